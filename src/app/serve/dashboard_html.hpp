// The dashboard page (dashboard.html, embedded at build time).
#pragma once
#include <string_view>

namespace skein::app {

std::string_view dashboard_html();

}  // namespace skein::app
