/*
 * zsec — ZeroMQ CURVE encryption and client authentication for streams that
 * cross hosts.
 *
 * Key files are text: "public = Z85" and "secret = Z85" lines (40 Z85
 * characters each, ZeroMQ's encoding of 32-byte keys), as written by
 * zsec_keygen() (frame-cat --curve-keygen FILE makes FILE, mode 0600, and
 * FILE.pub). Configuration is by environment, so every filter has it:
 *
 *   LRCPIPE_CURVE_KEY=FILE         this process's key pair; turns CURVE on
 *   LRCPIPE_CURVE_SERVER_KEY=FILE  (connecting side) the binding side's
 *                                  public key
 *   LRCPIPE_CURVE_CLIENTS=FILE     (binding side) the public keys allowed to
 *                                  connect, one key or key file line each;
 *                                  anyone else is refused by a ZAP handler
 *
 * The binding side of a socket is the CURVE server. Without
 * LRCPIPE_CURVE_CLIENTS a server encrypts but accepts any client that knows
 * its public key (a warning says so).
 *
 * Not here: key distribution; plain TCP stays the default on loopback.
 */
#ifndef LRC_ZSEC_H
#define LRC_ZSEC_H

/* Configure sock (before bind/connect) from the environment; 0, or -1. */
int zsec_apply(void *ctx, void *sock, int is_server);
/* Write a new key pair to path (0600) and its public key to path.pub. */
int zsec_keygen(const char *path);

#endif
