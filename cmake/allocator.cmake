# jemalloc for the programs (CLI, examples, benches): graph and chain runs make many small JSON and
# coroutine-frame allocations, which glibc malloc serves slower and less steadily. Sanitizer builds
# keep their own allocator. Without libjemalloc-dev the programs fall back to glibc malloc.
# jemalloc runs with its defaults: huge pages (MALLOC_CONF=thp:always) are the deployer's choice,
# see README.md ("Memory and huge pages").
add_library(skein_allocator INTERFACE)
set(SKEIN_ALLOCATOR "glibc malloc")
if(NOT SKEIN_SANITIZE AND NOT SKEIN_TSAN)
  find_library(JEMALLOC_LIBRARY NAMES jemalloc)
  if(JEMALLOC_LIBRARY)
    target_link_libraries(skein_allocator INTERFACE ${JEMALLOC_LIBRARY})
    target_compile_definitions(skein_allocator INTERFACE SKEIN_JEMALLOC=1)
    set(SKEIN_ALLOCATOR "jemalloc")
  else()
    message(STATUS "jemalloc not found (apt install libjemalloc-dev): programs use glibc malloc")
  endif()
endif()
target_compile_definitions(skein_allocator INTERFACE SKEIN_ALLOCATOR="${SKEIN_ALLOCATOR}")
