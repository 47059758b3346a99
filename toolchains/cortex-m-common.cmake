# Shared by the Cortex-M toolchain files (cortex-m4, cortex-m7, cortex-m55): bare metal with
# Debian's arm-none-eabi-gcc (gcc-arm-none-eabi, libnewlib-arm-none-eabi,
# libstdc++-arm-none-eabi-newlib). The including file sets CMAKE_SYSTEM_PROCESSOR and
# _capsrt_cpu_flags. Functions and data in their own sections, so the linker drops what is unused;
# the library builds for any firmware, and firmware_demo/ adds its startup, linker script and the
# board to run on (qemu-system-arm, firmware_demo/CMakeLists.txt).
set(CMAKE_SYSTEM_NAME Generic)
set(CMAKE_C_COMPILER arm-none-eabi-gcc)
set(CMAKE_CXX_COMPILER arm-none-eabi-g++)
set(CMAKE_TRY_COMPILE_TARGET_TYPE STATIC_LIBRARY)
set(_capsrt_mcu "${_capsrt_cpu_flags} -mthumb -ffunction-sections -fdata-sections")
set(CMAKE_C_FLAGS_INIT "${_capsrt_mcu}")
set(CMAKE_ASM_FLAGS_INIT "${_capsrt_mcu}")
set(CMAKE_CXX_FLAGS_INIT "${_capsrt_mcu} -fno-exceptions -fno-rtti -fno-threadsafe-statics")
set(CMAKE_EXE_LINKER_FLAGS_INIT "--specs=nano.specs --specs=nosys.specs -Wl,--gc-sections")
