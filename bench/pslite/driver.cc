/* driver.cc - the ps-lite side of bench/compare-pslite: one program for ps-lite's three roles
 * (DMLC_ROLE = scheduler, server or worker; the bench script starts one of each). The server
 * keeps a dense float64 vector of CMP_DIM values and answers a push with x[k] -= lr * g[k]
 * and a pull with x[k], key by key; the worker runs the cells of workloads.h with
 * KVWorker<double> and prints one "result" line per cell, the format of paramd_driver.c.
 * Built by the bench script against the system's libzmq and protobuf-lite, never by make. */
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include "ps/ps.h"

extern "C" {
#include "workloads.h"
}

namespace {

/* The server's model. ps-lite's KVServerDefaultHandle keeps an unordered_map and adds pushed
 * values; this one steps like paramd's sgd on a dense array, so both servers do the same
 * arithmetic on the same layout and the comparison is of the systems, not of a hash map. */
struct DenseModel {
    std::vector<double> x = std::vector<double>(CMP_DIM, 0.0);

    void Handle(const ps::KVMeta &req, const ps::KVPairs<double> &data,
                ps::KVServer<double> *server)
    {
        size_t n = data.keys.size();
        ps::KVPairs<double> res;

        for (size_t i = 0; i < n; i++) {
            CHECK_LT(data.keys[i], (ps::Key)CMP_DIM) << "key out of the model";
        }
        if (req.push) {
            CHECK_EQ(data.vals.size(), n) << "one value per key";
            for (size_t i = 0; i < n; i++) {
                x[data.keys[i]] -= CMP_LR * data.vals[i];
            }
        }
        if (req.pull) {
            /* ps-lite's answer carries the keys back too: share the request's array */
            res.keys = data.keys;
            res.vals.resize(n);
            for (size_t i = 0; i < n; i++) {
                res.vals[i] = x[data.keys[i]];
            }
        }
        server->Response(req, res);
    }
};

double NowS()
{
    using clock = std::chrono::steady_clock;
    return std::chrono::duration<double>(clock::now().time_since_epoch()).count();
}

/* One cell's buffers: the keys and the gradient are sent in place by ZPush (ps-lite's
 * zero-copy form, never modified while in flight); each in-flight pull has its own output
 * array, because ZPull's callback copies the reply into it when the reply arrives. */
struct CellState {
    ps::SArray<ps::Key> keys;
    ps::SArray<double> grad;
    std::vector<ps::SArray<double>> outs;
    int ts[CMP_MAX_DEPTH];
};

/* Start request number seq of the cell in ring slot seq % depth. */
int Issue(ps::KVWorker<double> *kv, const cmp_cell_t &cell, CellState *st, uint64_t seq)
{
    bool push = cell.op == CMP_PUSH || (cell.op == CMP_MIXED && seq % 2 == 0);
    size_t slot = seq % (uint64_t)cell.depth;

    if (push) {
        return kv->ZPush(st->keys, st->grad);
    }
    return kv->ZPull(st->keys, &st->outs[slot]);
}

/* Keep cell.depth requests in flight for budget_s after the warm-up; replies are awaited
 * in the order sent, as paramd's client takes them. */
void RunCell(ps::KVWorker<double> *kv, const cmp_cell_t &cell, double budget_s,
             uint64_t *done, double *seconds)
{
    CellState st;
    st.keys = ps::SArray<ps::Key>(cell.n);
    st.grad = ps::SArray<double>(cell.n);
    for (uint32_t i = 0; i < cell.n; i++) {
        st.keys[i] = cell.sparse_keys ? cmp_key(i) : i;
        st.grad[i] = cmp_grad(i);
    }
    st.outs.assign(cell.depth, ps::SArray<double>());
    for (auto &out : st.outs) {
        out = ps::SArray<double>(cell.n);
    }
    for (uint64_t w = 0; w < CMP_WARMUP_REQUESTS; w++) {
        kv->Wait(Issue(kv, cell, &st, w));
    }

    uint64_t sent = 0, head = 0;
    double t0 = NowS(), stop_at = t0 + budget_s;
    for (;;) {
        bool more = NowS() < stop_at;
        while (more && sent - head < (uint64_t)cell.depth) {
            st.ts[sent % cell.depth] = Issue(kv, cell, &st, sent);
            sent++;
        }
        if (sent == head) {
            break;
        }
        kv->Wait(st.ts[head % cell.depth]);
        head++;
    }
    *seconds = NowS() - t0;
    *done = head;
    /* a light check that pulls returned the model: finite values */
    for (const auto &out : st.outs) {
        for (size_t i = 0; i < out.size(); i++) {
            CHECK(out[i] == out[i] && out[i] < 1.0 && out[i] > -1.0) << "pulled garbage";
        }
    }
}

void Usage(FILE *to)
{
    fprintf(to, "usage: DMLC_ROLE=... pslite-driver [--seconds S]\n"
                "  The ps-lite side of bench/compare-pslite (the script starts it).\n"
                "  --seconds S  measuring time per cell (default 2)\n");
}

} // namespace

int main(int argc, char **argv)
{
    double budget_s = 2.0;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) {
            budget_s = strtod(argv[++i], nullptr);
            if (!(budget_s > 0 && budget_s < 600)) {
                Usage(stderr);
                return 2;
            }
        } else if (strcmp(argv[i], "--help") == 0) {
            Usage(stdout);
            return 0;
        } else {
            Usage(stderr);
            return 2;
        }
    }

    ps::Start(0, argv[0]);
    if (ps::IsServer()) {
        /* Deleted by Finalize's exit callback, once the worker has passed the last barrier. */
        auto model = std::make_shared<DenseModel>();
        auto server = new ps::KVServer<double>(0);
        server->set_request_handle(
            [model](const ps::KVMeta &req, const ps::KVPairs<double> &data,
                    ps::KVServer<double> *s) { model->Handle(req, data, s); });
        ps::RegisterExitCallback([server]() { delete server; });
    }
    /* The server's customer thread starts in KVServer's constructor, before the handle is
     * set; a request arriving in between fails ps-lite's CHECK(request_handle_). So the
     * worker sends nothing until the server has passed this barrier with its handle set. */
    if (!ps::IsScheduler()) {
        ps::Postoffice::Get()->Barrier(0, ps::kServerGroup + ps::kWorkerGroup);
    }
    if (ps::IsWorker()) {
        ps::KVWorker<double> kv(0, 0);
        for (size_t c = 0; c < CMP_N_CELLS; c++) {
            uint64_t done = 0;
            double seconds = 0;
            RunCell(&kv, cmp_cells[c], budget_s, &done, &seconds);
            printf("result %s %llu %.6f\n", cmp_cells[c].name, (unsigned long long)done,
                   seconds);
            fflush(stdout);
        }
    }
    ps::Finalize(0, true);
    return 0;
}
