# Cortex-M55 (ARMv8.1-M) with the FPU and Helium (MVE, integer and float), hard-float ABI.
# Emulated by qemu-system-arm -M mps3-an547 (firmware_demo/).
set(CMAKE_SYSTEM_PROCESSOR cortex-m55)
set(_capsrt_cpu_flags "-mcpu=cortex-m55 -mfloat-abi=hard")
include(${CMAKE_CURRENT_LIST_DIR}/cortex-m-common.cmake)
