// Where Skein keeps state between processes: pid files of managed servers, their logs.
// $SKEIN_STATE_DIR, else $XDG_STATE_HOME/skein, else ~/.local/state/skein.
#pragma once
#include <filesystem>

namespace skein {

std::filesystem::path state_dir();

}  // namespace skein
