#include "app/man_page.h"

#include <fmt/format.h>

#include "config/spec_export.h"

namespace relay::app {
namespace {

bool is_flag(const CLI::Option& o) { return !o.get_positional() && o.get_type_size_max() == 0; }

// A value that may be longer than a line (a list without spaces): roff may break it after a comma.
std::string breakable(std::string_view value) {
  std::string out;
  for (char c : roff_escape(value)) out += c == ',' ? std::string(",\\:") : std::string(1, c);
  return out;
}

// One option as a roff tagged paragraph: its names and value, then what --help says, its
// environment variable and its default.
std::string option_entry(const CLI::Option& o) {
  std::string head;
  if (o.get_positional()) {
    head = fmt::format("\\fI{}\\fR", roff_escape(o.get_name()));
  } else {
    head = fmt::format("\\fB{}\\fR", roff_escape(o.get_name(false, true)));
    if (!is_flag(o)) head += fmt::format(" \\fI{}\\fR", roff_escape(o.get_type_name()));
  }
  std::string text = roff_escape(o.get_description());
  if (!text.empty() && text.back() != '.') text += ".";
  if (!o.get_envname().empty()) text += fmt::format(" Environment: \\fB{}\\fR.", roff_escape(o.get_envname()));
  if (!o.get_default_str().empty() && !is_flag(o)) text += fmt::format(" Default: \\fB{}\\fR.", breakable(o.get_default_str()));
  return fmt::format(".TP\n{}\n{}\n", head, text);
}

std::string options_of(const CLI::App& app) {
  std::string out;
  for (const CLI::Option* o : app.get_options()) out += option_entry(*o);
  return out;
}

}  // namespace

std::string man_page(const CLI::App& app) {
  std::string out = fmt::format(".TH PGTRICKLE\\-RELAY 1 \"\" \"pgtrickle\\-relay {}\" \"User Commands\"\n", roff_escape(RELAY_VERSION));
  out += ".nh\n.ad l\n";  // no hyphenation in option and variable names; ragged right
  out += ".SH NAME\npgtrickle\\-relay \\- relay between PostgreSQL outboxes and inboxes and message brokers\n";
  out += ".SH SYNOPSIS\n.B pgtrickle\\-relay\n[\\fIoptions\\fR] [\\fIcommand\\fR [\\fIcommand options\\fR]]\n";
  out += ".SH DESCRIPTION\n" + roff_escape(app.get_description()) + "\n";
  out += ".PP\nWithout a command, or with \\fBrun\\fR, the relay runs until SIGTERM or SIGINT: it serves /metrics, "
         "/health, /health/live and /health/ready on \\fB\\-\\-metrics\\-addr\\fR and runs its share of the pipelines "
         "of the SQL catalog and of the \\fB\\-\\-config\\fR file.\n";
  out += ".SH COMMANDS\n";
  for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; })) {
    out += fmt::format(".TP\n\\fB{}\\fR\n{}.\n", roff_escape(sub->get_name()), roff_escape(sub->get_description()));
    std::string sub_options;
    for (const CLI::Option* o : sub->get_options())
      if (o != sub->get_help_ptr()) sub_options += option_entry(*o);
    if (!sub_options.empty()) out += ".RS\n" + sub_options + ".RE\n";
  }
  out += ".SH OPTIONS\nOptions apply to every command; a value is taken from the option, else from its environment "
         "variable, else from the \\fB[global]\\fR table of the \\fB\\-\\-config\\fR file, else from the default.\n";
  out += options_of(app);
  out += ".SH ENVIRONMENT\n";
  for (const CLI::Option* o : app.get_options())
    if (!o->get_envname().empty())
      out += fmt::format(".TP\n\\fB{}\\fR\nAs \\fB{}\\fR.\n", roff_escape(o->get_envname()), roff_escape(o->get_name()));
  out += ".TP\n\\fBPGHOST\\fR, \\fBPGUSER\\fR, \\fBPGPASSFILE\\fR, ...\nlibpq's variables, used when no PostgreSQL URL is given.\n";
  out += ".PP\nAny configuration value may be written \\fB${ENV:\\fR\\fIname\\fR\\fB}\\fR or "
         "\\fB${FILE:\\fR\\fIpath\\fR\\fB}\\fR to read a secret; secrets are never logged.\n";
  out += ".SH SIGNALS\n"
         ".TP\n\\fBSIGTERM\\fR, \\fBSIGINT\\fR\nStop: each pipeline drains its batch, acknowledges what was delivered and "
         "stops; the process exits 0. A stop that has not finished 15 seconds after the signal (a database or broker that no "
         "longer answers) is cut short: the process logs what it waited for and exits 1; what was in flight is delivered "
         "again at the next start.\n"
         ".TP\n\\fBSIGHUP\\fR\nRe\\-read the \\fB\\-\\-config\\fR file and the SQL catalog now, and restart the pipelines whose "
         "configuration changed (the file is also re\\-read when it changes). A file with problems keeps the previous pipelines "
         "running. The \\fB[global]\\fR settings apply at the next start.\n";
  out += spec_as_roff();
  out += ".SH BACKENDS\n.nf\n" + roff_escape(app.get_footer()) + "\n.fi\n";
  out += ".SH FILES\n"
         ".TP\n\\fI/etc/pgtrickle\\-relay/pgtrickle\\-relay.toml\\fR\nThe configuration of the pgtrickle\\-relay service "
         "(pgtrickle\\-relay@\\fIname\\fR reads \\fI/etc/pgtrickle\\-relay/\\fR\\fIname\\fR\\fI.toml\\fR).\n"
         ".TP\n\\fI/etc/pgtrickle\\-relay/pgtrickle\\-relay.env\\fR\nEnvironment of the services: the PostgreSQL URL and "
         "secrets read by ${ENV:...}; readable by root only (systemd reads it before it drops to the service's user).\n"
         ".TP\n\\fI/usr/share/pgtrickle\\-relay/pgtrickle_relay.sql\\fR\nThe SQL install, for \\fBpsql \\-f\\fR "
         "(\\fBpgtrickle\\-relay install\\fR applies the same script).\n"
         ".TP\n\\fI/var/lib/pgtrickle\\-relay\\fR\nThe services' state directory, writable by file sinks.\n";
  out += ".SH EXIT STATUS\n0 on success; 1 when \\fBvalidate\\fR finds problems or a command fails; 2 when the "
         "configuration is refused; another non\\-zero status when the command line cannot be parsed.\n";
  out += ".SH COPYRIGHT\nCopyright 2026 the pgtrickle\\-relay authors. Licensed under the Apache License, Version 2.0: "
         "\\fI/usr/share/common\\-licenses/Apache\\-2.0\\fR, <https://www.apache.org/licenses/LICENSE\\-2.0>.\n";
  out += ".SH SEE ALSO\n\\fBpsql\\fR(1), \\fBsystemctl\\fR(1); the README in \\fI/usr/share/doc/pgtrickle\\-relay/\\fR and "
         "the rest of the documentation, the configuration reference among it, in its \\fIdocs/\\fR folder.\n";
  return out;
}

}  // namespace relay::app
