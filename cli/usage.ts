/**
 * What the `ferry` command says about how to use it: the `--help` text, and the `USAGE` error
 * every misuse becomes.
 *
 * @module
 */

import { FerryError } from "../protocol/errors.ts";
import { DEFAULT_PORT } from "../client/connect.ts";

/** The text `ferry --help` prints. */
export const HELP = `ferry: copy files to and from a ferry server over TLS

Usage:
  ferry [options] ls [-l] [PATH]             list a remote directory (default: the root)
  ferry [options] get [-r] [-p] [--resume] REMOTE... [LOCAL]
                                             download (LOCAL defaults to here)
  ferry [options] put [-r] [-p] [--resume] LOCAL... [REMOTE]
                                             upload (REMOTE defaults to the root)
  ferry [options] mkdir [-p] DIR...          create remote directories
  ferry [options] mv [-f] FROM TO            rename or move a remote path
  ferry [options] stat PATH                  kind, size, modification time and SHA-256
  ferry [options] rm [-r] [-y] PATH...       delete remote files (-r: directory trees)
  ferry [options] shutdown                   stop the server (admin token only)
  ferry [options] -b FILE                    run the commands in FILE (- for standard input)
                                             over one connection

Remote paths may hold wildcards in their last component: * ? [abc] [a-z] [!a] (quote them
for your shell: ferry get 'logs/*.txt' out/).

Command options:
  -r, --recursive  get/put/rm: whole directory trees
  -p, --preserve   get/put: keep modification times (like scp -p); mkdir: --parents
  --parents        mkdir: create missing parents, succeed if it exists
  --resume         get/put: continue an interrupted transfer
  -f, --force      mv: replace an existing file
  -y, --yes        rm -r: do not ask
  -l, --long       ls: kind, size and modification time too
  --json           print one JSON document (ls, stat, get, put)
  -q, --quiet      no progress bars, summaries or notices

Connection options:
  --host HOST      server                          (default localhost)
  --port N         port                            (default ${DEFAULT_PORT})
  --profile NAME   host, port, ca, token from NAME in <config>/profiles.json
  --certs DIR      where ca.pem and token are found by default   (default ./certs)
  --ca FILE        CA certificate to trust         (default <certs>/ca.pem when present)
  --token TOKEN    access token                    (default $FERRY_TOKEN, then <certs>/token)
  --trust SHA256   trust a server whose certificate has this fingerprint (and remember it)
  -b, --batch FILE commands, one per line; a line starting with - may fail
  -h, --help       show this help

A server whose certificate no trusted CA signed is shown with its SHA-256 fingerprint; trust it
with --trust or by answering yes, and it is remembered in <config>/known_servers. <config> is
$FERRY_CONFIG_DIR, else $XDG_CONFIG_HOME/ferry, else ~/.config/ferry.

Exit status: 0 success; 2 usage; 3 connection; 4 TLS; 5 authentication; 6 not found or wrong
kind; 7 bad path; 8 checksum; 9 space or size; 10 local file; 11 protocol; 12 cancelled; 1 other.`;

/** A `USAGE` error (exit status 2) whose message points at `ferry --help`. */
export function usage(message: string): FerryError {
  return new FerryError("USAGE", `${message} (see ferry --help)`);
}
