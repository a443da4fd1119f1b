/* curve.h - the key files of CURVE security (DESIGN.md, Security), shared by the daemon (its
 * key pair, the authorized_workers list), the config check and the worker (its key pair, the
 * server's public key). Keys are the 40-character Z85 text of libzmq (41 bytes with the NUL).
 *
 * Formats (written by `paramctl keygen PREFIX`):
 *   PREFIX.key  key pair, mode 0600: '#' comment lines, then
 *                 public-key = "Z85"
 *                 secret-key = "Z85"
 *               (quotes optional; czmq's secret certificates, whose "metadata" and "curve"
 *               section words and other `name = value` lines are skipped, load too)
 *   PREFIX.pub  public key: '#' comment lines, then one line "Z85 NAME"
 *   authorized_workers: one "Z85 [NAME] [# comment]" per line, '#' comment lines, blank
 *               lines; so `cat worker.pub >> authorized_workers` adds a worker.
 * Z85 has '#' in its alphabet: a line is a comment unless its first word is a valid key.
 * Every problem is reported as "FILE:LINE: problem", one line each, like the config parser. */
#ifndef PD_COMMON_CURVE_H
#define PD_COMMON_CURVE_H

#include <stdbool.h>
#include <stddef.h>

#define PD_CURVE_KEY_LEN 40
#define PD_CURVE_NAME_MAX 64

typedef struct pd_curve_keypair {
    char pub[PD_CURVE_KEY_LEN + 1];
    char sec[PD_CURVE_KEY_LEN + 1];
} pd_curve_keypair_t;

typedef struct pd_curve_entry {
    char key[PD_CURVE_KEY_LEN + 1];
    char name[PD_CURVE_NAME_MAX]; /* the ZAP user id; "key-" + 8 key characters if unnamed */
} pd_curve_entry_t;

typedef struct pd_curve_list {
    pd_curve_entry_t *v; /* owned */
    size_t n;
} pd_curve_list_t;

/* True when text[0..len) is exactly one Z85 key (40 characters of the Z85 alphabet). */
bool pd_curve_key_valid(const char *text, size_t len);

/* Where the key pair of `path` is read from: under systemd, the service credential named
 * after its base name when there is a non-empty one ($CREDENTIALS_DIRECTORY/server.key for
 * /etc/paramd/server.key: paramd.service passes the root-only file with LoadCredential=),
 * else path itself (also when the credential is blank: the unit's default when there is no
 * key file). buf holds the credential's path. */
const char *pd_curve_keypair_source(const char *path, char *buf, size_t len);

/* Read a key-pair file (from pd_curve_keypair_source(path)). The secret key must be present;
 * a public key, when present, must belong to it (else it is derived from the secret key).
 * Returns 0, PD_ECONFIG with "FILE:LINE: ..." lines appended to err, or -errno ("FILE:
 * reason" in err, with a hint when the service user may not read it). */
int pd_curve_load_keypair(const char *path, pd_curve_keypair_t *kp, char *err, size_t errlen);

/* A public key given as Z85 text, or as a file holding it (a .pub file, or a key-pair file's
 * public-key line). Same returns as pd_curve_load_keypair. */
int pd_curve_load_public(const char *key_or_path, char pub[PD_CURVE_KEY_LEN + 1], char *err,
                         size_t errlen);

/* Read an authorized_workers file into *out (which the caller releases, also on error: it is
 * left empty then). A key listed twice is an error. Returns as above. */
int pd_curve_load_list(const char *path, pd_curve_list_t *out, char *err, size_t errlen);
void pd_curve_list_release(pd_curve_list_t *l);
/* The entry of key (Z85), or NULL. */
const pd_curve_entry_t *pd_curve_list_find(const pd_curve_list_t *l, const char *key);

#endif
