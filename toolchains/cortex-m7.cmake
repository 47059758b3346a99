# Cortex-M7 with a double-precision FPU and the DSP extension (ARMv7E-M), hard-float ABI.
# Emulated by qemu-system-arm -M mps2-an500 (firmware_demo/).
set(CMAKE_SYSTEM_PROCESSOR cortex-m7)
set(_capsrt_cpu_flags "-mcpu=cortex-m7 -mfpu=fpv5-d16 -mfloat-abi=hard")
include(${CMAKE_CURRENT_LIST_DIR}/cortex-m-common.cmake)
