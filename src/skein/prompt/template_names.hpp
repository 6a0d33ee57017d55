// What a template reads from its variables, found by scanning its tokens: the free names
// (`chain_input`, `verdict`) and the field paths read from them (`chain_input.review`). Names bound
// in the template (for/set/macro), attributes, filters, tests, keyword arguments and names guarded
// by `is defined` / `default` are not free. Being a scan of the tokens, it also sees what sits in
// loops and branches that a given render does not reach.
#pragma once
#include <jinja/lexer.h>

#include <set>
#include <string>
#include <vector>

namespace skein {

struct TemplateNames {
  std::set<std::string> names;                  // free names
  std::vector<std::vector<std::string>> paths;  // name + fields, e.g. {chain_input, review}
};

TemplateNames scan_names(const std::vector<jinja::token>& tokens);

}  // namespace skein
