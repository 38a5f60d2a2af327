/* sha1.h: SHA-1, needed only because Dovecot turns a message GUID that is
 * not 32 hex digits into 128 bits with SHA-1 (mail_generate_guid_128_hash):
 * the mdbox `guid` index extension must hold exactly that value. */
#ifndef MF_SHA1_H
#define MF_SHA1_H

#include <stddef.h>
#include <stdint.h>

void mf_sha1(const void *data, size_t len, uint8_t out[20]);
/* Dovecot's 128-bit form of a message GUID string. */
void mf_guid128(const char *guid, size_t len, uint8_t out[16]);

#endif
