/*
 * version — lrcpipe's version, printed by --version and written into every
 * stream's start record and every checkpoint's metadata.
 */
#ifndef LRC_VERSION_H
#define LRC_VERSION_H

#define LRCPIPE_VERSION "0.1.0"

#endif
