/* fetchprobe.c - one FETCH against a running paramd, its reply printed (data_fetch.test).
 *
 *   fetchprobe ENDPOINT FILE OFFSET LENGTH
 *
 * FILE is the DataFile number (1 training set, 2 training labels, 3 test set, 4 test
 * labels; 0 names nothing). Joins as a key-value client, sends the FETCH and prints the reply
 * as one line:
 *   DATA offset=O bytes=N size=S crc32=XXXXXXXX
 *   ERROR NAME: REASON
 * Exit 0 when a reply came, 99 when the daemon could not be reached or did not answer. */
#include <config.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "client_internal.h"
#include "error.h"
#include "paramd/client.h"
#include "wire.h"

int main(int argc, char **argv)
{
    pd_client_t *c = NULL;
    pd_wire_in_t in;
    pd_msg_t m;
    int rc, code = 99;

    if (argc != 5) {
        fprintf(stderr, "usage: fetchprobe ENDPOINT FILE OFFSET LENGTH\n");
        return 2;
    }
    rc = pd_client_connect(&c, argv[1], "fetchprobe", 10000);
    if (rc != 0) {
        fprintf(stderr, "fetchprobe: cannot join %s: %s\n", argv[1], pd_client_strerror(rc));
        return 99;
    }
    pd_msg_init(&m, PD_MSG_FETCH);
    m.data_file = (pd_data_file_t)strtoul(argv[2], NULL, 10);
    m.data_offset = strtoull(argv[3], NULL, 10);
    m.data_length = strtoull(argv[4], NULL, 10);
    rc = pd_client_send_msg(c, &m, NULL, 0);
    while (rc == 0) {
        rc = pd_client_recv_msg(c, &in, 10000);
        if (rc != 0) {
            fprintf(stderr, "fetchprobe: no reply: %s\n", pd_strerror(rc));
            break;
        }
        if (in.msg.request_id == m.request_id && in.msg.type == PD_MSG_DATA) {
            printf("DATA offset=%" PRIu64 " bytes=%zu size=%" PRIu64 " crc32=%08" PRIx32 "\n",
                   in.msg.data_offset, in.n_parts == 1 ? zmq_msg_size(&in.parts[0]) : 0,
                   in.msg.data_size, in.msg.data_crc32);
            code = 0;
        } else if (in.msg.request_id == m.request_id && in.msg.type == PD_MSG_ERROR) {
            printf("ERROR %s: %s\n", pd_wire_error_name(in.msg.error), in.msg.reason);
            code = 0;
        }
        pd_wire_in_release(&in);
        if (code == 0) {
            break;
        }
    }
    pd_client_free(c);
    return code;
}
