/* filesum.h - the CRC-32 of a whole file. The data transfer (FETCH/DATA, doc/protocol.md
 * "Data transfer") announces it so a worker can check the bytes it assembled from chunks
 * before it trusts them; server and worker compute it here, the same way. */
#ifndef PD_COMMON_FILESUM_H
#define PD_COMMON_FILESUM_H

#include <stdint.h>

/* Read the whole open file `fd` (with pread from offset 0; the file position is unchanged):
 * its size in bytes and its CRC-32 (zlib's crc32, the IEEE 802.3 polynomial). 0 or -errno. */
int pd_filesum_crc32(int fd, uint64_t *size_bytes, uint32_t *crc);

#endif
