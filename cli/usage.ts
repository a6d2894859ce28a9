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
  ferry [options] get [-r] [-p] [--resume] [-u [-c]] [--streams N] REMOTE... [LOCAL]
                                             download (LOCAL defaults to here; - is stdout)
  ferry [options] put [-r] [-p] [--resume] [-u [-c]] LOCAL... [REMOTE]
                                             upload (REMOTE defaults to the root; put - NAME
                                             reads standard input)
  ferry [options] mkdir [-p] DIR...          create remote directories
  ferry [options] mv [-f] FROM TO            rename or move a remote path
  ferry [options] stat PATH                  kind, size, modification time and SHA-256
  ferry [options] rm [-r] [-y] PATH...       delete remote files (-r: directory trees)
  ferry [options] shutdown                   stop the server (admin token only)
  ferry [options] -b FILE                    run the commands in FILE (- for standard input)
                                             over one connection
  ferry completions bash|zsh|fish            print a shell completion script
  ferry --version                            print the version

Remote paths may name the server as scp does, HOST:PATH or USER@HOST:PATH, or as a URL,
ferry://HOST[:PORT]/PATH; HOST may be a profile's name. They may hold wildcards in their
last component: * ? [abc] [a-z] [!a] (quote them for your shell: ferry get 'logs/*.txt' out/).

Command options:
  -r, --recursive  get/put/rm: whole directory trees
  -p, --preserve   get/put: keep modification times (like scp -p); mkdir: --parents
  --parents        mkdir: create missing parents, succeed if it exists
  --resume         get/put: continue an interrupted transfer; files already complete (same
                   size and SHA-256) are skipped, a tree continues where it was
  -u, --update     get/put: skip files the destination has unchanged (same size, not older)
  -c, --checksum   get/put: with --update, compare checksums (the connection's algorithm)
                   instead of times
  --streams N      get: move each file of 32 MiB or more over N connections at once (each
                   a range of it, in its own thread, checked by its own digest)
  -f, --force      mv: replace an existing file
  -y, --yes        rm -r: do not ask
  -l, --long       ls: kind, size and modification time too
  -h, --human-readable
                   ls (after ls, as in ls -lh): sizes as 1.5 MiB; elsewhere -h is --help
  -U, --unsorted   ls: in the server's order, unsorted; a plain ls then prints each batch as
                   it arrives and keeps nothing (any size of directory in constant memory)
  --json           print one JSON document (ls, stat, get, put)
  -q, --quiet      no progress bars, summaries or notices

Connection options:
  --host HOST[:PORT]  server                       (default localhost)
  -P, --port N     port                            (default ${DEFAULT_PORT})
  --profile NAME   host, port, ca, token from NAME in <config>/profiles.json
  --certs DIR      where ca.pem and token are found by default   (default ./certs)
  --ca FILE        CA certificate to trust         (default <certs>/ca.pem when present)
  --token-file FILE  file holding the access token (default $FERRY_TOKEN, then <certs>/token)
  --token TOKEN    the access token itself (others can see it in ps; prefer --token-file)
  --trust SHA256   trust a server whose certificate has this fingerprint (and remember it)
  --limit-rate RATE  at most RATE bytes per second for all transfers (500K, 10M, 1G)
  --checksum-choice ALGO  end-to-end check of transfers (and of -c): auto (default: XXH3-128
                   where the server has it, else SHA-256), xxh128 or sha256
  -b, --batch FILE commands, one per line; a line starting with - may fail
  -h, --help       show this help
  --version        show the version

A server whose certificate no trusted CA signed is shown with its SHA-256 fingerprint; trust it
with --trust or by answering yes, and it is remembered in <config>/known_servers. <config> is
$FERRY_CONFIG_DIR, else $XDG_CONFIG_HOME/ferry, else ~/.config/ferry. USER@HOST checks that
the token is USER's (ferry knows users by their tokens); a profile named USER@HOST or HOST
supplies one.

Exit status: 0 success; 2 usage; 3 connection; 4 TLS; 5 authentication; 6 not found or wrong
kind; 7 bad path, name or time; 8 checksum; 9 space or size; 10 local file; 11 protocol;
12 cancelled; 1 other.`;

/** A `USAGE` error (exit status 2) whose message points at `ferry --help`. */
export function usage(message: string): FerryError {
  return new FerryError("USAGE", `${message} (see ferry --help)`);
}
