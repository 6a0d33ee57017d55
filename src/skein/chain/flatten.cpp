#include "flatten.hpp"

#include <cstdint>
#include <cstring>
#include <string_view>
#include <vector>

namespace skein {
namespace {

// A row's layout: its columns, each with its key already written as the line spells it, and which
// column each value of the history goes to. The rows of a run mostly share one layout, so a history
// is first matched against the last one laid out (a comparison per member key, nothing built) and
// only laid out again when its shape differs. Kept from row to row (per thread): a row allocates
// nothing once the buffers have grown to the rows' size.
class Layout {
 public:
  // Points each column at its value in `history`, laid out again unless it has the last one's shape.
  void take(const Json& history) {
    if (!matches(history)) lay_out(history);
  }
  // `id` is the value of the column whose value is null.
  void write(JsonLine& out, std::string_view id) const {
    out.clear();
    for (const Column& c : columns_) {
      out.raw(text_of(heads_, c.head));
      if (c.value)
        out.value(*c.value);
      else
        out.string(id);
    }
    out.raw("}\n");
  }

 private:
  // The walk through a history, member by member: a value written as it is (a leaf), or an object
  // gone into (open ... close). Keys are in keys_.
  enum class Kind : uint8_t { leaf, open, close };
  struct Span {  // of a text
    size_t at, size;
  };
  struct Token {
    Kind kind;
    Span key;  // in keys_
  };
  struct Column {
    Span head;  // `{"key":` or `,"key":` in heads_
    const Json* value;
  };

  // Walks `history` along tokens_; false (the columns then half set) where it strays.
  bool matches(const Json& history) {
    if (!laid_out_) return false;
    take_row_id(history);
    columns_[1].value = nullptr;  // the id, unless a node named `id` takes the column
    size_t t = 0, leaf = 0;
    for (const auto& [key, value] : history.get_ref<const Json::object_t&>())
      if (!is_row_id(key) && !match(key, value, t, leaf)) return false;
    return t == tokens_.size();
  }
  bool match(std::string_view key, const Json& value, size_t& t, size_t& leaf) {
    if (t == tokens_.size() || text_of(keys_, tokens_[t].key) != key) return false;
    const Kind kind = tokens_[t++].kind;
    if (!value.is_object() || value.empty()) {
      if (kind != Kind::leaf) return false;
      columns_[leaf_columns_[leaf++]].value = &value;
      return true;
    }
    if (kind != Kind::open) return false;
    for (const auto& [k, v] : value.get_ref<const Json::object_t&>())
      if (!match(k, v, t, leaf)) return false;
    return t < tokens_.size() && tokens_[t++].kind == Kind::close;
  }

  void lay_out(const Json& history) {
    laid_out_ = false;  // until it is whole (an allocation may fail half-way)
    tokens_.clear();
    keys_.clear();
    leaf_columns_.clear();
    names_.clear();
    name_spans_.clear();
    columns_.clear();
    heads_.clear();
    add_column("row_id");
    add_column("id");
    take_row_id(history);
    for (const auto& [key, value] : history.get_ref<const Json::object_t&>())
      if (!is_row_id(key)) {
        path_.assign(key);
        walk(key, value);
      }
    laid_out_ = true;
  }
  // Adds the tokens of the member `key` (its path so far in path_) and the columns of its leaves.
  void walk(std::string_view key, const Json& value) {
    const size_t at = keys_.size();
    keys_ += key;
    if (!value.is_object() || value.empty()) {
      tokens_.push_back({Kind::leaf, {at, key.size()}});
      const size_t column = add_column(path_);
      leaf_columns_.push_back(column);
      columns_[column].value = &value;
      return;
    }
    tokens_.push_back({Kind::open, {at, key.size()}});
    const size_t n = path_.size();
    for (const auto& [k, v] : value.get_ref<const Json::object_t&>()) {
      path_.resize(n);
      path_ += '.';
      path_ += k;
      walk(k, v);
    }
    path_.resize(n);
    tokens_.push_back({Kind::close, {0, 0}});
  }
  // The column named `name`: a name met again keeps its first place (and takes the later value).
  size_t add_column(std::string_view name) {
    for (size_t i = 0; i < name_spans_.size(); ++i)
      if (text_of(names_, name_spans_[i]) == name) return i;
    name_spans_.push_back({names_.size(), name.size()});
    names_ += name;
    head_.clear().raw(columns_.empty() ? "{" : ",").string(name).raw(":");
    columns_.push_back({{heads_.size(), head_.text().size()}, nullptr});
    heads_ += head_.text();
    return columns_.size() - 1;
  }
  static bool is_row_id(const std::string& key) { return key.size() == 6 && std::memcmp(key.data(), "row_id", 6) == 0; }
  void take_row_id(const Json& history) {
    static const Json kNull;
    const auto row = history.find("row_id");
    columns_[0].value = row == history.end() ? &kNull : &*row;
  }
  static std::string_view text_of(const std::string& text, Span span) { return {text.data() + span.at, span.size}; }

  bool laid_out_ = false;
  std::vector<Token> tokens_;
  std::string keys_;
  std::vector<size_t> leaf_columns_;  // the column of each leaf, in walk order
  std::string names_;                 // the columns' names (dotted paths)
  std::vector<Span> name_spans_;
  std::vector<Column> columns_;
  std::string heads_;
  std::string path_;  // lay_out()'s: the dotted path so far
  JsonLine head_;     // lay_out()'s: a column's head, escaped
};

}  // namespace

void flattened_line(const Json& history, const std::string& id, JsonLine& out) {
  thread_local Layout layout;
  layout.take(history);
  layout.write(out, id);
}

}  // namespace skein
