# `cmake --install build --prefix P`: the public headers, libskein.a with the llama.cpp archives it
# needs (P/lib/skein), libskein_cluster.a (PostgreSQL, skein/cluster.hpp), the `skein` binary, and a
# package a separate project finds with find_package(skein) and links as skein::skein and
# skein::cluster (examples/consumer links both).
include(CMakePackageConfigHelpers)

install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/skein DESTINATION include)
install(TARGETS skein skein_llama skein_cluster EXPORT skeinTargets ARCHIVE DESTINATION lib)
install(FILES ${SKEIN_LLAMA_ARCHIVES} DESTINATION lib/skein)
install(TARGETS skein_cli RUNTIME DESTINATION bin)
install(EXPORT skeinTargets NAMESPACE skein:: DESTINATION lib/cmake/skein)

configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/skeinConfig.cmake.in
                              ${PROJECT_BINARY_DIR}/skeinConfig.cmake INSTALL_DESTINATION lib/cmake/skein)
write_basic_package_version_file(${PROJECT_BINARY_DIR}/skeinConfigVersion.cmake COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/skeinConfig.cmake ${PROJECT_BINARY_DIR}/skeinConfigVersion.cmake
        DESTINATION lib/cmake/skein)
