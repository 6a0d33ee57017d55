# llama.cpp is cloned and built by scripts/setup.sh into ${SKEIN_CACHE} (outside the repository),
# once per machine; here it becomes the imported target skein::llama.
set(SKEIN_LLAMA_SRC "${SKEIN_CACHE}/llama.cpp" CACHE PATH "llama.cpp source tree")
set(SKEIN_LLAMA_BUILD "${SKEIN_CACHE}/llama-build" CACHE PATH "llama.cpp build tree")

if(NOT EXISTS "${SKEIN_LLAMA_SRC}/include/llama.h")
  message(FATAL_ERROR "llama.cpp not found in ${SKEIN_LLAMA_SRC}: run scripts/setup.sh first")
endif()

set(_skein_llama_libs
    common/libllama-common.a
    common/libllama-common-base.a
    vendor/cpp-httplib/libcpp-httplib.a
    src/libllama.a
    ggml/src/libggml.a
    ggml/src/libggml-cpu.a
    ggml/src/libggml-base.a)
# Built here from the cache's archives; installed (SKEIN_LLAMA_ARCHIVES, see cmake/install.cmake)
# into <prefix>/lib/skein, where the exported target finds them.
set(SKEIN_LLAMA_ARCHIVES)
set(_skein_llama_installed)
foreach(lib IN LISTS _skein_llama_libs)
  if(NOT EXISTS "${SKEIN_LLAMA_BUILD}/${lib}")
    message(FATAL_ERROR "missing ${SKEIN_LLAMA_BUILD}/${lib}: run scripts/setup.sh first")
  endif()
  list(APPEND SKEIN_LLAMA_ARCHIVES "${SKEIN_LLAMA_BUILD}/${lib}")
  get_filename_component(_name "${lib}" NAME)
  list(APPEND _skein_llama_installed "\${_IMPORT_PREFIX}/lib/skein/${_name}")
endforeach()

add_library(skein_llama INTERFACE)
set_target_properties(skein_llama PROPERTIES EXPORT_NAME llama)
target_include_directories(skein_llama SYSTEM INTERFACE
    "$<BUILD_INTERFACE:${SKEIN_LLAMA_SRC}/include;${SKEIN_LLAMA_SRC}/ggml/include;${SKEIN_LLAMA_SRC}/common>")
target_link_libraries(skein_llama INTERFACE
    -Wl,--start-group "$<BUILD_INTERFACE:${SKEIN_LLAMA_ARCHIVES}>" "$<INSTALL_INTERFACE:${_skein_llama_installed}>"
    -Wl,--end-group Threads::Threads dl m)
add_library(skein::llama ALIAS skein_llama)

set(SKEIN_LLAMA_SERVER "${SKEIN_LLAMA_BUILD}/bin/llama-server")
set(SKEIN_BATCHED_BENCH "${SKEIN_LLAMA_BUILD}/bin/llama-batched-bench")
