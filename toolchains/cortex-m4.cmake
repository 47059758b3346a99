# Cortex-M4 with its single-precision FPU and the DSP extension (ARMv7E-M), hard-float ABI.
# Emulated by qemu-system-arm -M mps2-an386 (firmware_demo/).
set(CMAKE_SYSTEM_PROCESSOR cortex-m4)
set(_capsrt_cpu_flags "-mcpu=cortex-m4 -mfpu=fpv4-sp-d16 -mfloat-abi=hard")
include(${CMAKE_CURRENT_LIST_DIR}/cortex-m-common.cmake)
