// Jinja-syntax templates over a record's history (`{{ chain_input.review }}`,
// `{{ summarise.actions | tojson }}`, `{% for %}`, `{% if %}`), rendered by llama.cpp's Jinja
// engine.
#pragma once
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "skein/error.hpp"
#include "skein/json.hpp"

namespace skein {

class Template {
 public:
  // Parses `source` once. Throws TemplateError (quoting the template and `where`) on bad syntax.
  explicit Template(std::string source, std::string where = "");
  ~Template();
  Template(Template&&) noexcept;
  Template& operator=(Template&&) noexcept;

  // Renders with the keys of `vars` (an object) as variables. A name or field that `vars` does
  // not have is an error (TemplateError quoting the template and listing the available keys),
  // never an empty string. Safe to call from several threads at once.
  std::string render(const Json& vars) const;

  const std::string& source() const;

  // The variables the template reads (free names, wherever they appear), for checks before a run.
  const std::set<std::string>& names() const;
  // The field paths it reads from those names: {"verdict", "label"} for `verdict.label`.
  const std::vector<std::vector<std::string>>& paths() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace skein
