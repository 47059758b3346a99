# Cortex-M3 (ARMv7-M: no FPU, no SIMD), bare metal, with Debian's arm-none-eabi-gcc (packages
# gcc-arm-none-eabi, libnewlib-arm-none-eabi, libstdc++-arm-none-eabi-newlib). Soft-float ABI:
# a float operation in the program would call a libgcc routine (__aeabi_f*, __aeabi_d*), which
# the int8-only build (CMakePresets.json "cortex-m3": CAPSRT_FLOAT=OFF) must never link
# (tests/nofpu/). Functions and data in their own sections, so the linker drops what is unused.
set(CMAKE_SYSTEM_NAME Generic)
set(CMAKE_SYSTEM_PROCESSOR cortex-m3)
set(CMAKE_C_COMPILER arm-none-eabi-gcc)
set(CMAKE_CXX_COMPILER arm-none-eabi-g++)
set(CMAKE_TRY_COMPILE_TARGET_TYPE STATIC_LIBRARY)
set(_capsrt_mcu "-mcpu=cortex-m3 -mthumb -mfloat-abi=soft -ffunction-sections -fdata-sections")
set(CMAKE_C_FLAGS_INIT "${_capsrt_mcu}")
set(CMAKE_CXX_FLAGS_INIT "${_capsrt_mcu} -fno-exceptions -fno-rtti -fno-threadsafe-statics")
set(CMAKE_EXE_LINKER_FLAGS_INIT "--specs=nano.specs --specs=nosys.specs -Wl,--gc-sections")
