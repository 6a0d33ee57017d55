# Precompiled headers: the heavy headers nearly every file includes (JSON, Asio's executors and
# awaitables, fmt) are parsed once per target instead of once per file. On 2 cores this is most of
# a build's time. SKEIN_PCH=OFF to check that every file includes what it uses.
option(SKEIN_PCH "Precompile the common headers" ON)
set(SKEIN_PCH_HEADERS
  <functional> <map> <memory> <mutex> <optional> <string> <vector>
  <nlohmann/json.hpp> <boost/asio/any_io_executor.hpp> <boost/asio/awaitable.hpp>
  <boost/asio/co_spawn.hpp> <boost/asio/io_context.hpp> <boost/asio/post.hpp> <boost/asio/steady_timer.hpp>
  <boost/asio/use_awaitable.hpp> <fmt/format.h>)

# skein_pch(target [EXTRA header…]): precompile the common headers (and EXTRA) for `target`.
function(skein_pch target)
  if(SKEIN_PCH)
    target_precompile_headers(${target} PRIVATE ${SKEIN_PCH_HEADERS} ${ARGN})
  endif()
endfunction()

# skein_pch_reuse(target from): `target` uses the precompiled headers of `from` (same flags).
function(skein_pch_reuse target from)
  if(SKEIN_PCH)
    target_precompile_headers(${target} REUSE_FROM ${from})
  endif()
endfunction()
