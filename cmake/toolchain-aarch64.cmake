# The arm64 cross build on Debian (scripts/package.sh --arch arm64; scripts/install-deps.sh arm64
# installs what it uses): crossbuild-essential-arm64's compiler, the :arm64 libraries of the
# multiarch directory /usr/lib/aarch64-linux-gnu, and qemu-user-static to run what is built.
#   cmake -S . -B build-arm64 --toolchain cmake/toolchain-aarch64.cmake
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)
# What is built runs on this machine under qemu, with the :arm64 C library and libraries (not with
# -L /usr/aarch64-linux-gnu: the cross toolchain's C library hangs in the relay's first thread there).
set(CMAKE_CROSSCOMPILING_EMULATOR qemu-aarch64-static)

# pkg-config finds the arm64 libraries in the multiarch directory, never the native ones. Set by the
# first reading of this file, the project's: its try_compile checks read it again in the same process.
if("$ENV{PKG_CONFIG_LIBDIR}" MATCHES "/aarch64-linux-gnu/pkgconfig")
  return()
endif()
set(ENV{PKG_CONFIG_LIBDIR} "/usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig")

# libpq-dev is not Multi-Arch: with the native one installed, libpq5:arm64 comes without its
# libpq.so and libpq.pc. They are made in the build directory: the headers are the native ones
# (libpq-fe.h is the same on both), the library is the arm64 one.
if(NOT EXISTS /usr/lib/aarch64-linux-gnu/pkgconfig/libpq.pc)
  if(NOT EXISTS /usr/lib/aarch64-linux-gnu/libpq.so.5 OR NOT EXISTS /usr/include/postgresql/libpq-fe.h)
    message(FATAL_ERROR "libpq5:arm64 or the native libpq-dev is missing (scripts/install-deps.sh arm64)")
  endif()
  execute_process(COMMAND dpkg-query -W -f=\${Version} libpq5:arm64 OUTPUT_VARIABLE relay_libpq_version ERROR_QUIET)
  string(REGEX REPLACE "-[^-]*$" "" relay_libpq_version "${relay_libpq_version}")  # upstream's, as libpq.pc
  set(relay_libpq_dir ${CMAKE_BINARY_DIR}/libpq-aarch64)
  file(MAKE_DIRECTORY ${relay_libpq_dir}/pkgconfig)
  file(CREATE_LINK /usr/lib/aarch64-linux-gnu/libpq.so.5 ${relay_libpq_dir}/libpq.so SYMBOLIC)
  # libdir quoted: the build directory's path may hold spaces (pkg-config then escapes them).
  file(CONFIGURE OUTPUT ${relay_libpq_dir}/pkgconfig/libpq.pc @ONLY CONTENT [[
libdir=@relay_libpq_dir@
includedir=/usr/include/postgresql

Name: libpq
Description: PostgreSQL libpq library (arm64)
Version: @relay_libpq_version@
Cflags: -I${includedir}
Libs: -L"${libdir}" -lpq
]])
  set(ENV{PKG_CONFIG_LIBDIR} "${relay_libpq_dir}/pkgconfig:$ENV{PKG_CONFIG_LIBDIR}")
endif()

# Likewise Debian 13's librdkafka-dev, which needs the native libsasl2-dev: with librdkafka1:arm64
# alone (scripts/install-deps.sh arm64 there), its rdkafka.pc is made here, with the native headers.
# (On Debian 12 the relay links scripts/librdkafka.sh's static build instead: cmake/Backends.cmake.)
if(NOT EXISTS /usr/lib/aarch64-linux-gnu/pkgconfig/rdkafka.pc AND EXISTS /usr/lib/aarch64-linux-gnu/librdkafka.so.1
   AND EXISTS /usr/include/librdkafka/rdkafka.h)
  execute_process(COMMAND dpkg-query -W -f=\${Version} librdkafka1:arm64 OUTPUT_VARIABLE relay_rdkafka_version ERROR_QUIET)
  string(REGEX REPLACE "-[^-]*$" "" relay_rdkafka_version "${relay_rdkafka_version}")
  set(relay_rdkafka_dir ${CMAKE_BINARY_DIR}/librdkafka-aarch64)
  file(MAKE_DIRECTORY ${relay_rdkafka_dir}/pkgconfig)
  file(CREATE_LINK /usr/lib/aarch64-linux-gnu/librdkafka.so.1 ${relay_rdkafka_dir}/librdkafka.so SYMBOLIC)
  file(CONFIGURE OUTPUT ${relay_rdkafka_dir}/pkgconfig/rdkafka.pc @ONLY CONTENT [[
libdir=@relay_rdkafka_dir@
includedir=/usr/include

Name: librdkafka
Description: The Apache Kafka C/C++ library (arm64)
Version: @relay_rdkafka_version@
Cflags: -I${includedir}
Libs: -L${libdir} -lrdkafka
]])
  set(ENV{PKG_CONFIG_LIBDIR} "${relay_rdkafka_dir}/pkgconfig:$ENV{PKG_CONFIG_LIBDIR}")
endif()
