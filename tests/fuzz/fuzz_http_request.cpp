// One HTTP request (method, target, headers, body) as bytes through Beast's parser and then the
// server's checks and API router, against a host with a graph loaded (a gate, no model), as
// `skein serve` handles it; the response is serialised. Runs the fuzzer submits are cancelled
// every so often, so they do not pile up.
#include <boost/beast/_experimental/test/stream.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <sstream>

#include "fuzz.hpp"
#include "serve/http_handler.hpp"

namespace {

namespace http = boost::beast::http;

struct Harness {
  skein::app::Host host{[] {
    skein::app::HostOptions o;
    o.files = {SKEIN_SOURCE_DIR "/tests/fuzz/gate_graph.yaml"};
    o.store = false;
    o.history = 4;
    return o;
  }()};
  // Even-sized inputs meet a token (so the token, query and cookie paths are fuzzed too).
  skein::app::RequestPolicy open{"127.0.0.1", "", {"skein.test"}, {"http://ok.example"}};
  skein::app::RequestPolicy guarded{"127.0.0.1", "s3cret", {"skein.test"}, {"http://ok.example"}};
  size_t calls = 0;

  void tidy() {
    if (++calls % 256) return;
    for (const auto& r : host.registry().list())
      if (!skein::is_finished(r.state)) host.registry().cancel(r.id);
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Harness& h = *new Harness;  // never destroyed: libFuzzer exits from anywhere
  http::request_parser<http::string_body> parser;
  parser.eager(true);
  parser.body_limit(1 << 20);
  boost::beast::error_code ec;
  parser.put(boost::asio::buffer(data, size), ec);
  if (!ec && !parser.is_done()) parser.put_eof(ec);
  if (ec || !parser.is_done()) return 0;
  const skein::app::HttpResponse res = skein::app::handle_http(h.host, size % 2 ? h.open : h.guarded, parser.get());
  std::ostringstream out;
  out << res;
  h.tidy();
  return 0;
}
