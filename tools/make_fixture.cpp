// make_fixture: writes a tiny random-weight llama GGUF for tests and benchmarks.
//
// The model is NOT trained. Its weights come from a seeded generator, so the same flags always
// produce the same file. It exercises llama.cpp's real loading, decoding and sampling path; the
// text it generates is meaningless. The tokenizer (a real 32k SentencePiece vocabulary) is copied
// from a vocab-only GGUF of the llama.cpp tree.
//
// To keep grammar-constrained JSON short, one residual dimension carries a constant and the
// output rows of a few structural tokens (quotes, brackets, commas, digits, end of text) read it
// with a positive weight: the model then prefers to close strings and objects early.
#include <ggml.h>
#include <gguf.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <set>
#include <string>
#include <vector>

namespace {

struct Options {
  std::string vocab, out;
  int embd = 64, layers = 2, ff = 128, heads = 4, heads_kv = 4, ctx = 4096;
  unsigned seed = 42;
  bool f16 = true;
};

void usage() {
  std::fprintf(stderr,
               "usage: make_fixture --vocab VOCAB.gguf --out OUT.gguf [--embd N] [--layers N] "
               "[--ff N] [--heads N] [--heads-kv N] [--ctx N] [--seed N] [--f32]\n");
  std::exit(2);
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> const char* {
      if (i + 1 >= argc) usage();
      return argv[++i];
    };
    if (a == "--vocab")
      o.vocab = next();
    else if (a == "--out")
      o.out = next();
    else if (a == "--embd")
      o.embd = std::atoi(next());
    else if (a == "--layers")
      o.layers = std::atoi(next());
    else if (a == "--ff")
      o.ff = std::atoi(next());
    else if (a == "--heads")
      o.heads = std::atoi(next());
    else if (a == "--heads-kv")
      o.heads_kv = std::atoi(next());
    else if (a == "--ctx")
      o.ctx = std::atoi(next());
    else if (a == "--seed")
      o.seed = static_cast<unsigned>(std::atol(next()));
    else if (a == "--f32")
      o.f16 = false;
    else
      usage();
  }
  if (o.vocab.empty() || o.out.empty() || o.embd % o.heads != 0) usage();
  return o;
}

// Tokens whose piece is made only of JSON punctuation or digits (at most two characters).
std::set<int> structural_tokens(const gguf_context* vocab) {
  std::set<int> ids;
  const int64_t key = gguf_find_key(vocab, "tokenizer.ggml.tokens");
  const size_t n = gguf_get_arr_n(vocab, key);
  for (size_t i = 0; i < n; ++i) {
    std::string piece = gguf_get_arr_str(vocab, key, i);
    if (piece.empty() || piece.size() > 2) continue;
    if (piece.find_first_not_of("\"}],:0123456789") == std::string::npos) ids.insert(int(i));
  }
  const int64_t eos = gguf_find_key(vocab, "tokenizer.ggml.eos_token_id");
  if (eos >= 0) ids.insert(int(gguf_get_val_u32(vocab, eos)));
  return ids;
}

class WeightWriter {
 public:
  WeightWriter(const Options& o, gguf_context* out, size_t bytes) : o_(o), out_(out), rng_(o.seed) {
    ggml_init_params p{bytes, nullptr, false};
    ctx_ = ggml_init(p);
  }
  ~WeightWriter() { ggml_free(ctx_); }

  ggml_tensor* add(const std::string& name, int64_t ne0, int64_t ne1, float stddev, bool half) {
    ggml_tensor* t = ne1 == 1 ? ggml_new_tensor_1d(ctx_, half ? GGML_TYPE_F16 : GGML_TYPE_F32, ne0)
                              : ggml_new_tensor_2d(ctx_, half ? GGML_TYPE_F16 : GGML_TYPE_F32, ne0, ne1);
    ggml_set_name(t, name.c_str());
    std::vector<float> v(size_t(ne0 * ne1));
    std::normal_distribution<float> dist(0.f, stddev);
    for (auto& x : v) x = stddev == 0.f ? 1.f : dist(rng_);
    store(t, v);
    gguf_add_tensor(out_, t);
    return t;
  }

  void store(ggml_tensor* t, const std::vector<float>& v) {
    if (t->type == GGML_TYPE_F16)
      ggml_fp32_to_fp16_row(v.data(), static_cast<ggml_fp16_t*>(t->data), int64_t(v.size()));
    else
      std::memcpy(t->data, v.data(), v.size() * sizeof(float));
  }

  std::mt19937& rng() { return rng_; }

 private:
  const Options& o_;
  gguf_context* out_;
  std::mt19937 rng_;
  ggml_context* ctx_;
};

void set_hparams(gguf_context* out, const Options& o, uint32_t n_vocab) {
  gguf_set_val_str(out, "general.architecture", "llama");
  gguf_set_val_str(out, "general.name", "skein-fixture-random-weights");
  gguf_set_val_u32(out, "general.file_type", o.f16 ? 1 : 0);
  gguf_set_val_u32(out, "llama.vocab_size", n_vocab);
  gguf_set_val_u32(out, "llama.context_length", uint32_t(o.ctx));
  gguf_set_val_u32(out, "llama.embedding_length", uint32_t(o.embd));
  gguf_set_val_u32(out, "llama.block_count", uint32_t(o.layers));
  gguf_set_val_u32(out, "llama.feed_forward_length", uint32_t(o.ff));
  gguf_set_val_u32(out, "llama.attention.head_count", uint32_t(o.heads));
  gguf_set_val_u32(out, "llama.attention.head_count_kv", uint32_t(o.heads_kv));
  gguf_set_val_u32(out, "llama.rope.dimension_count", uint32_t(o.embd / o.heads));
  gguf_set_val_f32(out, "llama.attention.layer_norm_rms_epsilon", 1e-5f);
  // A llama-2 style template: llama.cpp recognises it without running Jinja.
  gguf_set_val_str(out, "tokenizer.chat_template",
                   "{% for message in messages %}{% if message['role'] == 'system' %}"
                   "{{ '<<SYS>>\\n' + message['content'] + '\\n<</SYS>>\\n\\n' }}"
                   "{% elif message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}"
                   "{% else %}{{ message['content'] }}{% endif %}{% endfor %}");
}

// Embeddings: column 0 holds the constant that structural tokens' output rows read.
void write_embeddings(WeightWriter& w, const Options& o, const gguf_context* vocab, int64_t n_vocab) {
  ggml_tensor* emb = w.add("token_embd.weight", o.embd, n_vocab, 0.02f, o.f16);
  std::vector<float> v(size_t(o.embd * n_vocab));
  std::normal_distribution<float> noise(0.f, 0.02f);
  for (int64_t t = 0; t < n_vocab; ++t)
    for (int e = 0; e < o.embd; ++e) v[size_t(t * o.embd + e)] = e == 0 ? 1.f : noise(w.rng());
  w.store(emb, v);

  ggml_tensor* out = w.add("output.weight", o.embd, n_vocab, 0.02f, o.f16);
  const std::set<int> favoured = structural_tokens(vocab);
  std::uniform_real_distribution<float> bias(0.2f, 0.8f);
  for (int64_t t = 0; t < n_vocab; ++t)
    for (int e = 0; e < o.embd; ++e)
      v[size_t(t * o.embd + e)] = e == 0 ? (favoured.count(int(t)) ? bias(w.rng()) : 0.f) : noise(w.rng());
  w.store(out, v);
}

void write_blocks(WeightWriter& w, const Options& o) {
  const int kv = o.embd / o.heads * o.heads_kv;
  for (int l = 0; l < o.layers; ++l) {
    const std::string b = "blk." + std::to_string(l) + ".";
    w.add(b + "attn_norm.weight", o.embd, 1, 0.f, false);
    w.add(b + "attn_q.weight", o.embd, o.embd, 0.02f, o.f16);
    w.add(b + "attn_k.weight", o.embd, kv, 0.02f, o.f16);
    w.add(b + "attn_v.weight", o.embd, kv, 0.02f, o.f16);
    w.add(b + "attn_output.weight", o.embd, o.embd, 0.02f, o.f16);
    w.add(b + "ffn_norm.weight", o.embd, 1, 0.f, false);
    w.add(b + "ffn_gate.weight", o.embd, o.ff, 0.02f, o.f16);
    w.add(b + "ffn_up.weight", o.embd, o.ff, 0.02f, o.f16);
    w.add(b + "ffn_down.weight", o.ff, o.embd, 0.02f, o.f16);
  }
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse(argc, argv);
  gguf_init_params vp{true, nullptr};
  gguf_context* vocab = gguf_init_from_file(o.vocab.c_str(), vp);
  if (!vocab) {
    std::fprintf(stderr, "make_fixture: cannot read vocabulary %s\n", o.vocab.c_str());
    return 1;
  }
  const int64_t n_vocab = int64_t(gguf_get_arr_n(vocab, gguf_find_key(vocab, "tokenizer.ggml.tokens")));
  gguf_context* out = gguf_init_empty();
  gguf_set_kv(out, vocab);
  set_hparams(out, o, uint32_t(n_vocab));

  const size_t per_layer = size_t(4 * o.embd * o.embd + 3 * o.embd * o.ff + 2 * o.embd);
  const size_t params = size_t(2 * o.embd * n_vocab + o.embd) + size_t(o.layers) * per_layer;
  const size_t bytes = params * 4 + size_t(o.layers * 16 + 8) * ggml_tensor_overhead() + (1 << 20);
  {
    WeightWriter w(o, out, bytes);
    write_embeddings(w, o, vocab, n_vocab);
    w.add("output_norm.weight", o.embd, 1, 0.f, false);
    write_blocks(w, o);
    if (!gguf_write_to_file(out, o.out.c_str(), false)) {
      std::fprintf(stderr, "make_fixture: cannot write %s\n", o.out.c_str());
      return 1;
    }
  }
  std::printf("make_fixture: wrote %s (%zu parameters, random weights, seed %u)\n", o.out.c_str(), params, o.seed);
  gguf_free(out);
  gguf_free(vocab);
  return 0;
}
