# Sanitizer builds apply to Skein's own code; llama.cpp is linked as prebuilt static libraries.
# SKEIN_FUZZ (clang only) is an ASan + UBSan build that also carries the libFuzzer targets
# (tests/fuzz): its code is instrumented for coverage, and -Wthread-safety checks the lock
# annotations (include/skein/mutex.hpp): a finding fails the build.
option(SKEIN_FUZZ "Build the libFuzzer targets (clang; implies SKEIN_SANITIZE)" OFF)
if(SKEIN_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "SKEIN_FUZZ needs clang: configure with -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_C_COMPILER=clang")
  endif()
  set(SKEIN_SANITIZE ON)
  add_compile_options(-fsanitize=fuzzer-no-link -Wthread-safety -Werror=thread-safety)
endif()
if(SKEIN_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
  if(SKEIN_FUZZ)
    # clang 14 cannot emit UBSan's function-type check together with coverage instrumentation
    # ("Cannot represent a difference across sections"); the other checks stay.
    add_compile_options(-fno-sanitize=function)
  endif()
endif()
if(SKEIN_TSAN)
  add_compile_options(-fsanitize=thread -fno-omit-frame-pointer)
  add_link_options(-fsanitize=thread)
endif()
