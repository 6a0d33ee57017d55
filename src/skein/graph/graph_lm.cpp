// EngineLM: the LM protocol over engines (graph_lm.hpp).
#include "skein/graph_lm.hpp"

#include "engine/typed_generation.hpp"
#include "skein/broker.hpp"
#include "skein/graph_run.hpp"

#include <boost/asio/use_awaitable.hpp>

namespace skein {

namespace asio = boost::asio;

namespace {

// An object type of exactly these fields; the fields' named types hoisted into one `$defs`.
TypePtr fields_type(const std::string& name, const std::vector<const Field*>& fields) {
  Json schema{{"type", "object"}, {"properties", Json::object()}, {"required", Json::array()}};
  Json defs = Json::object();
  for (const Field* f : fields) {
    Json s = f->type ? f->type->schema() : Json::object();
    if (s.contains("$defs")) {
      for (auto& [k, v] : s["$defs"].items()) defs[k] = v;
      s.erase("$defs");
    }
    if (!f->description.empty()) s["description"] = f->description;
    schema["properties"][f->name] = std::move(s);
    schema["required"].push_back(f->name);
  }
  schema["additionalProperties"] = false;
  if (!defs.empty()) schema["$defs"] = std::move(defs);
  return std::make_shared<Type>(name, std::move(schema));
}

}  // namespace

EngineLM::EngineLM(std::function<Engine&(const std::string&)> engine_for, std::string default_engine, Sampling sampling,
                   int retries)
    : engine_for_(std::move(engine_for)),
      default_engine_(std::move(default_engine)),
      sampling_(std::move(sampling)),
      retries_(retries) {}

EngineLM::EngineLM(Broker& broker, std::string default_engine, Sampling sampling, int retries)
    : broker_(&broker), default_engine_(std::move(default_engine)), sampling_(std::move(sampling)), retries_(retries) {}

asio::awaitable<LMReply<Json>> EngineLM::ask(const std::string& engine, std::vector<ChatMessage> messages,
                                             const TypePtr& type) {
  if (!broker_) co_return co_await ask(engine_for_(engine), std::move(messages), type);
  // Held for this call alone: never stopped under it, and nothing held between calls.
  const Lease lease = co_await broker_->async_acquire(engine, asio::use_awaitable);
  co_return co_await ask(lease.engine(), std::move(messages), type);
}

asio::awaitable<LMReply<Json>> EngineLM::ask(Engine& engine, std::vector<ChatMessage> messages, const TypePtr& type) {
  GenerateRequest req;
  req.messages = std::move(messages);
  req.output = type;
  req.sampling = sampling_;
  TypedOutcome out = co_await generate_typed(engine, std::move(req), retries_);
  if (out.cancelled) throw Error("cancelled");
  if (!out.output) throw Error("no valid reply after " + std::to_string(out.attempts) + " attempts: " + out.reason);
  LMReply<Json> reply;
  reply.value = std::move(*out.output);
  reply.tokens = LMTokens{out.prompt_tokens, out.generated_tokens, out.cached_prompt_tokens};
  reply.queue_ns = out.queue_ns;
  reply.generate_ns = out.generate_ns;
  co_return reply;
}

asio::awaitable<LMReply<std::string>> EngineLM::choose_type(const NodeType& from, const std::vector<std::string>& types,
                                                            const Json& context) {
  const Json schema{{"type", "object"},
                    {"properties", {{"next", {{"enum", types}}}}},
                    {"required", {"next"}},
                    {"additionalProperties", false}};
  const auto type = std::make_shared<Type>("Next", schema);
  std::string options;
  for (const auto& c : types) options += (options.empty() ? "" : ", ") + c;
  std::vector<ChatMessage> messages{
      {"system", "You route an agent: choose what comes next (`end` ends the run).\n\n" + type->instruction()},
      {"user", "Current state:\n" + context.dump(2) + "\n\nChoose one of: " + options}};
  LMReply<Json> reply = co_await ask(from.engine.value_or(default_engine_), std::move(messages), type);
  co_return LMReply<std::string>{reply.value.at("next").get<std::string>(), reply.tokens, reply.queue_ns,
                                 reply.generate_ns};
}

asio::awaitable<LMReply<Json>> EngineLM::fill(const NodeType& target, const Json& resolved,
                                              const std::string& instruction, const TraceEntry& source) {
  const TypePtr type = fields_type(target.name, model_fields(target));
  std::vector<ChatMessage> messages{
      {"system", instruction + "\n\n" + type->instruction()},
      {"user", "Coming from " + source.type + ":\n" + source.fields.dump(2) + "\n\nAlready known:\n" +
                   resolved.dump(2) + "\n\nFill the fields of " + target.name + "."}};
  co_return co_await ask(target.engine.value_or(default_engine_), std::move(messages), type);
}

}  // namespace skein
