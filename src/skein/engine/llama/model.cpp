#include "model.hpp"

#include <cstdlib>
#include <mutex>

namespace skein::llama {
namespace {

thread_local bool t_quiet = false;

// llama.cpp logs to stderr by default; Skein keeps it quiet unless SKEIN_LLAMA_LOG is set.
void init_backend() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (!std::getenv("SKEIN_LLAMA_LOG"))
      llama_log_set(
          [](ggml_log_level level, const char* text, void*) {
            if (level == GGML_LOG_LEVEL_ERROR && !t_quiet) std::fputs(text, stderr);
          },
          nullptr);
    llama_backend_init();
  });
}

}  // namespace

Model load_model(const std::string& engine, const std::string& path) {
  init_backend();
  Model m;
  llama_model_params params = llama_model_default_params();
  params.n_gpu_layers = 0;
  m.model = llama_model_load_from_file(path.c_str(), params);
  if (!m.model) throw EngineError(engine, "cannot load model file '" + path + "'");
  m.vocab = llama_model_get_vocab(m.model);
  const char* tmpl = llama_model_chat_template(m.model, nullptr);
  m.chat_template = tmpl ? tmpl : "chatml";
  for (llama_token t = 0; t < llama_vocab_n_tokens(m.vocab); ++t)
    if (llama_vocab_is_eog(m.vocab, t)) m.eog.push_back(t);
  return m;
}

void quiet_llama_errors(bool quiet) { t_quiet = quiet; }

void free_model(Model& m) {
  if (m.model) llama_model_free(m.model);
  m.model = nullptr;
}

std::string Model::format(const std::vector<ChatMessage>& messages) const {
  std::vector<llama_chat_message> chat;
  size_t size = 0;
  for (const auto& msg : messages) {
    chat.push_back({msg.role.c_str(), msg.content.c_str()});
    size += msg.role.size() + msg.content.size();
  }
  std::string out(size * 2 + 256, '\0');
  int n = llama_chat_apply_template(chat_template.c_str(), chat.data(), chat.size(), true, out.data(), int(out.size()));
  if (n > int(out.size())) {
    out.resize(size_t(n));
    n = llama_chat_apply_template(chat_template.c_str(), chat.data(), chat.size(), true, out.data(), n);
  }
  if (n < 0) {  // a template llama.cpp does not know: plain role-prefixed text
    out.clear();
    for (const auto& msg : messages) out += msg.role + ": " + msg.content + "\n";
    return out + "assistant: ";
  }
  out.resize(size_t(n));
  return out;
}

}  // namespace skein::llama
