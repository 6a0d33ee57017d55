// `skein shell [FILE…]`: the interactive host. readline in its callback mode, so the loop can wait
// on the terminal, on run notifications and on Ctrl-C at once; a notification is printed above the
// prompt and the line being typed is redrawn as it was.
#include <fcntl.h>
#include <poll.h>
#include <readline/history.h>
#include <readline/readline.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <deque>
#include <filesystem>
#include <iostream>
#include <mutex>
#include <sstream>

#include "../commands.hpp"
#include "shell_commands.hpp"
#include "skein/state_dir.hpp"

namespace skein::app {

namespace {

// Written by the signal handlers ('i' Ctrl-C, 't' SIGTERM or SIGHUP) and the run listener ('n');
// non-blocking: a full pipe already holds a wake-up.
int wake_pipe[2] = {-1, -1};

void wake(char c) {
  const int saved = errno;  // a handler must leave errno as it found it
  [[maybe_unused]] ssize_t n = ::write(wake_pipe[1], &c, 1);
  errno = saved;
}
void on_sigint(int) { wake('i'); }
void on_sigterm(int) { wake('t'); }

// The events the shell tells of, queued by the registry's listener (which may outlive the shell).
struct Inbox {
  std::mutex mu;
  std::deque<RunEvent> events;
};

class Shell {
 public:
  Shell(Host& host, std::string history) : host_(host), history_(std::move(history)) {
    host_.registry().subscribe([inbox = inbox_](const RunEvent& e) {
      if (e.kind != RunEventKind::gate_opened && !is_final(e.kind)) return;
      {
        std::lock_guard l(inbox->mu);
        inbox->events.push_back(e);
      }
      wake('n');
    });
  }

  int run();

 private:
  static void on_line(char* line) { instance_->line(line); }
  void line(char* text);
  void command(const std::string& text);
  void print_above(const std::string& text);
  void notify();
  void interrupt();
  void menu_choice(const std::string& text);
  std::vector<RunSnapshot> active() const;

  static inline Shell* instance_ = nullptr;
  Host& host_;
  std::string history_;
  bool done_ = false;
  std::vector<std::string> menu_;  // run ids of the open Ctrl-C menu; empty: no menu
  std::shared_ptr<Inbox> inbox_ = std::make_shared<Inbox>();
};

constexpr const char* prompt = "skein> ";

int Shell::run() {
  instance_ = this;
  rl_catch_signals = 0;  // Ctrl-C is ours
  using_history();
  read_history(history_.c_str());
  std::signal(SIGINT, on_sigint);
  std::signal(SIGTERM, on_sigterm);
  std::signal(SIGHUP, on_sigterm);
  std::cout << "Type help for the commands.\n" << std::flush;
  rl_callback_handler_install(prompt, on_line);
  while (!done_) {
    pollfd fds[2] = {{STDIN_FILENO, POLLIN, 0}, {wake_pipe[0], POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) continue;  // EINTR
    if (fds[1].revents & POLLIN) {
      char buf[64];
      const ssize_t n = ::read(wake_pipe[0], buf, sizeof buf);
      const std::string got(buf, n > 0 ? size_t(n) : 0);
      if (got.find('n') != std::string::npos) notify();
      if (got.find('i') != std::string::npos) interrupt();
      if (got.find('t') != std::string::npos) done_ = true;  // SIGTERM: leave as `quit` does
    }
    if (!done_ && (fds[0].revents & (POLLIN | POLLHUP))) rl_callback_read_char();
  }
  rl_callback_handler_remove();
  write_history(history_.c_str());
  // From here on the host shuts down (runs cancelled, engines stopped): signals wait for it.
  std::signal(SIGINT, SIG_IGN);
  std::signal(SIGTERM, SIG_IGN);
  std::signal(SIGHUP, SIG_IGN);
  const size_t n = active().size();
  if (n) std::cout << "cancelling " << n << " active run(s)\n";
  return 0;
}

void Shell::line(char* text) {
  if (!text) {  // Ctrl-D
    std::cout << "\n";
    done_ = true;
    return;
  }
  const std::string s(text);
  std::free(text);
  if (!menu_.empty()) return menu_choice(s);
  if (s.find_first_not_of(" \t") != std::string::npos) add_history(s.c_str());
  command(s);
}

void Shell::command(const std::string& text) {
  std::ostringstream out;
  if (!run_shell_line(host_, text, out)) done_ = true;
  std::cout << out.str() << std::flush;
}

// Above the prompt: clear the input line, print, then redraw the prompt and what was typed.
void Shell::print_above(const std::string& text) {
  if (::isatty(STDOUT_FILENO)) std::cout << "\r\x1b[2K";  // erase the prompt line
  std::cout << text << "\n" << std::flush;
  rl_on_new_line();
  rl_redisplay();
}

void Shell::notify() {
  std::deque<RunEvent> events;
  {
    std::lock_guard l(inbox_->mu);
    events.swap(inbox_->events);
  }
  for (const auto& e : events)
    if (const std::string text = notification(host_, e); !text.empty()) print_above("* " + text);
}

std::vector<RunSnapshot> Shell::active() const {
  std::vector<RunSnapshot> out;
  for (auto& r : host_.registry().list())
    if (!is_finished(r.state)) out.push_back(std::move(r));
  return out;
}

// Ctrl-C: with runs active, a menu to cancel one or all; with none, leave.
void Shell::interrupt() {
  rl_replace_line("", 0);
  const auto runs = active();
  if (runs.empty()) {
    print_above("^C");
    done_ = true;
    return;
  }
  std::string text = "^C active runs:";
  menu_.clear();
  for (const auto& r : runs) {
    menu_.push_back(r.id);
    text += "\n  " + std::to_string(menu_.size()) + ") " + Host::summary_line(r);
  }
  text += "\n  a) cancel all   q) quit (cancels all)   Enter) back";
  rl_set_prompt("cancel which? ");
  print_above(text);
}

void Shell::menu_choice(const std::string& text) {
  std::vector<std::string> chosen;
  if (text == "a" || text == "q") chosen = menu_;
  if (text == "q") done_ = true;
  try {
    const size_t k = std::stoul(text);
    if (k >= 1 && k <= menu_.size()) chosen.push_back(menu_[k - 1]);
  } catch (const std::exception&) {
  }
  for (const auto& id : chosen)
    if (host_.registry().cancel(id)) std::cout << id << ": cancelling\n";
  menu_.clear();
  rl_set_prompt(prompt);
}

}  // namespace

int shell_command(const ShellArgs& args) {
  HostOptions options;
  options.files = args.files;
  options.limits = args.limits;
  options.store_url = args.store.url;
  options.retention = args.store.retention;
  options.max_store_bytes = uint64_t(args.store.max_store_mb * 1024 * 1024);
  options.state_dir = args.state_dir.empty() ? skein::state_dir().string() : args.state_dir;
  if (::pipe2(wake_pipe, O_NONBLOCK | O_CLOEXEC) != 0) {
    std::cerr << "skein shell: cannot create a pipe\n";
    return 2;
  }
  // A SIGTERM while the host starts is kept for the loop (which then leaves at once).
  std::signal(SIGTERM, on_sigterm);
  std::signal(SIGHUP, on_sigterm);
  try {
    Host host(options);
    std::cout << "skein shell: " << host.files().size() << " file(s) loaded; runs stored in "
              << (options.store_url.empty() ? options.state_dir : "the PostgreSQL database given by --store")
              << "\nnote: engine `local` runs the random-weight fixture model unless SKEIN_LOCAL_MODEL points at a "
                 "real GGUF: its outputs are valid but meaningless.\n";
    for (const auto& id : host.registry().crashed()) std::cout << id << " was left unfinished by a crash: CRASHED\n";
    Shell shell(host, (std::filesystem::path(options.state_dir) / "shell_history").string());
    return shell.run();
  } catch (const Error& e) {
    std::cerr << "skein shell: " << e.what() << "\n";
    return 2;
  }
}

}  // namespace skein::app
