# Dovecot Sieve (Pigeonhole) rule for a mailbox mailbot watches over IMAP ([imap] folders).
# Carriers answer traceback+<token>@... (any plus-address of the desk); those replies are
# filed into the folder mailbot watches, where nobody else needs to read them first.
# Install as the desk mailbox's sieve script (e.g. ~/sieve/mailbot.sieve, active via
# ~/.dovecot.sieve), and set [imap] folders = ["Tracebacks"] in /etc/mailbot/config.toml.
require ["envelope", "fileinto", "mailbox", "subaddress"];

if envelope :detail :matches "to" "?*" {
    fileinto :create "Tracebacks";
    stop;
}
