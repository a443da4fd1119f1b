/* job.c - turns the configuration into a runnable job: loads the training and test sets,
 * binds the model, allocates the store, optimiser and method state, and fills the job
 * description sent to every worker in WELCOME. Runs once, before the socket is bound. */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "log.h"
#include "methods/method.h"
#include "quad.h"
#include "shards.h"

int pd_job_load_data(const pd_config_t *c, pd_data_t **train, pd_data_t **test)
{
    /* A quadratic's file is its components, three numbers a line, never with a test set. */
    bool quad = c->model_type == PD_MODEL_QUADRATIC;
    pd_data_opts_t o = {.format = (pd_data_format_t)c->data_format,
                        .n_features = quad ? 2 : (size_t)c->features,
                        .max_samples = (size_t)c->max_samples};
    char err[1024] = "";
    int rc;

    if (c->model_type == PD_MODEL_NONE || c->train_path[0] == '\0') {
        pd_log_err("the job has no data: %s", c->model_type == PD_MODEL_NONE
                                                  ? "[model] type = none"
                                                  : "[data] train is not set");
        return PD_ECONFIG;
    }
    rc = pd_data_load_job(train, test, c->train_path, quad ? "" : c->train_labels_path,
                          quad ? NULL : c->test_path, c->test_labels_path, &o, err, sizeof(err));
    if (rc != 0) {
        pd_log_err("cannot load the data: %s", err[0] != '\0' ? err : pd_strerror(rc));
    }
    return rc;
}

/* The synthetic quadratic (quad.h): generated here from [model] samples, noise, mu and seed,
 * or, with [data] train, its components read from a CSV file, one per line: b'_j, c_j,
 * sigma_j with A_j = c_j T + sigma_j I and b_j = b'_j e_1 (a problem generated elsewhere, such
 * as the Freya PAGE authors' construction, bench/quadratic_problem.py). Workers cannot
 * generate it (the job description does not carry its parameters), so only the simulator,
 * whose workers live in this process, runs it. */
static int load_quadratic(pd_daemon_t *d)
{
    const pd_config_t *c = &d->cfg;
    pd_quad_params_t q = {.dim = (size_t)c->dim, .m = (size_t)c->quad_samples,
                          .noise = c->quad_noise, .mu = c->quad_mu, .seed = (uint64_t)c->quad_seed};
    bool from_file = c->train_path[0] != '\0';
    char err[256] = "";
    int rc;

    if (d->opts.transport == NULL) {
        pd_log_err("[model] type = quadratic is generated in-process and runs only under "
                   "paramd-sim");
        return PD_ECONFIG;
    }
    if (from_file) {
        pd_data_t *no_test = NULL;
        rc = pd_job_load_data(c, &d->train, &no_test);
        if (rc != 0) {
            return rc;
        }
    } else {
        rc = pd_quad_generate(&d->train, &q);
    }
    if (rc == 0) {
        rc = pd_model_bind_quadratic(&d->model, d->train, q.dim, err, sizeof(err));
    }
    if (rc != 0) {
        pd_log_err("%s: %s%s", from_file ? c->train_path : "cannot generate the quadratic",
                   err[0] != '\0' ? err : pd_strerror(rc),
                   from_file ? " (a CSV file of lines b',c,sigma is expected)" : "");
        return rc;
    }
    if (from_file) {
        pd_log_info("read a quadratic of %zu components from %s: d=%zu", d->train->m,
                    c->train_path, q.dim);
    } else {
        pd_log_info("generated a quadratic: d=%zu m=%zu noise=%g mu=%g", q.dim, q.m, q.noise,
                    q.mu);
    }
    return 0;
}

/* The configured model on the loaded training set (the layers were checked with the rest
 * of the configuration, so a parse failure here cannot happen but is still reported). */
static int bind_model(pd_daemon_t *d, char *err, size_t errlen)
{
    const pd_config_t *c = &d->cfg;
    pd_mlp_shape_t shape = {0};
    int rc;

    if (c->model_type != PD_MODEL_MLP) {
        rc = pd_model_bind(&d->model, (pd_model_kind_t)c->model_type, d->train,
                           (size_t)c->classes, c->bias, err, errlen);
    } else if ((rc = pd_mlp_parse_layers(c->mlp_layers, &shape, err, errlen)) == 0) {
        shape.activation = (pd_activation_t)c->mlp_activation;
        rc = pd_model_bind_mlp(&d->model, d->train, &shape, err, errlen);
    }
    d->model.bias_regularized = c->bias_regularized;
    return rc;
}

static void fill_job(pd_daemon_t *d)
{
    pd_job_desc_t *j = &d->job;
    const pd_config_t *c = &d->cfg;

    memset(j, 0, sizeof(*j));
    j->job_id = pd_config_job_hash(c);
    j->method = c->method;
    snprintf(j->model, sizeof(j->model), "%s", pd_model_kind_name(d->model.kind));
    j->dim = d->model.dim;
    j->features = d->model.p;
    j->classes = (uint32_t)d->model.n_classes;
    j->bias = d->model.bias;
    j->bias_regularized = d->model.bias_regularized;
    snprintf(j->train_path, sizeof(j->train_path), "%s", c->train_path);
    snprintf(j->train_labels_path, sizeof(j->train_labels_path), "%s", c->train_labels_path);
    snprintf(j->test_path, sizeof(j->test_path), "%s", c->test_path);
    snprintf(j->test_labels_path, sizeof(j->test_labels_path), "%s", c->test_labels_path);
    snprintf(j->data_format, sizeof(j->data_format), "%s",
             pd_data_format_name((pd_data_format_t)c->data_format));
    j->train_fingerprint = d->train != NULL ? pd_data_fingerprint(d->train) : 0;
    j->test_fingerprint = d->test != NULL ? pd_data_fingerprint(d->test) : 0;
    j->train_samples = d->train != NULL ? d->train->m : 0;
    j->test_samples = d->test != NULL ? d->test->m : 0;
    j->max_samples = (uint64_t)c->max_samples;
    j->heartbeat_interval_ms = (uint32_t)c->heartbeat_interval_ms;
    j->worker_timeout_ms = (uint32_t)c->worker_timeout_ms;
    j->wire_type = pd_config_wire_f32(c) ? PD_ELEM_F32 : PD_ELEM_F64;
    j->bf16_gradients = c->gradient_compression == PD_COMPRESS_BF16;
    if (d->model.kind == PD_MODEL_MLP) {
        _Static_assert(PD_MLP_MAX_LAYERS + 1 == PD_WIRE_MAX_WIDTHS, "a Job carries every width");
        j->n_widths = d->model.mlp.n_layers + 1;
        for (size_t l = 0; l < j->n_widths; l++) {
            j->widths[l] = d->model.mlp.width[l];
        }
        snprintf(j->activation, sizeof(j->activation), "%s",
                 pd_activation_name(d->model.mlp.activation));
        j->init_seed = (uint64_t)c->init_seed;
    }
}

static void setup_optim(pd_daemon_t *d)
{
    const pd_config_t *c = &d->cfg;
    pd_optim_t *o = &d->optim;

    o->kind = c->optimizer;
    o->schedule = c->schedule;
    o->lr = c->learning_rate;
    o->decay_steps = c->decay_steps;
    o->decay_rate = c->decay_rate;
    o->momentum = c->momentum;
    o->beta1 = c->beta1;
    o->beta2 = c->beta2;
    o->epsilon = c->epsilon;
    o->reg.kind = (pd_reg_kind_t)c->regularizer;
    o->reg.l1 = c->l1;
    o->reg.l2 = c->l2;
    o->reg.lower = c->lower;
    o->reg.upper = c->upper;
    o->mask = d->mask != NULL ? d->mask + d->key_begin : NULL; /* this process's keys */
}

/* [job] sparse_tasks: on for sparse data when the job fits (pd_config_sparse_tasks_fit;
 * = yes on a job that does not fit was refused with the configuration). With a regulariser
 * the store then defers the prox of the keys a step does not touch. */
static int setup_sparse_tasks(pd_daemon_t *d)
{
    const pd_config_t *c = &d->cfg;

    if (c->sparse_tasks == PD_SPARSE_NO || !pd_config_sparse_tasks_fit(c)) {
        return 0;
    }
    if (!d->train->sparse) {
        if (c->sparse_tasks == PD_SPARSE_YES) {
            pd_log_err("[job] sparse_tasks = yes: the training set %s is dense; tasks with key "
                       "lists need sparse (LIBSVM) data", c->train_path);
            return PD_ECONFIG;
        }
        return 0;
    }
    d->batch_idx = malloc((size_t)c->batch_size * sizeof(uint32_t));
    if (d->batch_idx == NULL) {
        return -ENOMEM;
    }
    if (d->optim.reg.kind != PD_REG_NONE) {
        /* the store counts its keys from key_begin, as the optimiser's mask does */
        int rc = pd_store_defer_prox(&d->store, &d->optim.reg, d->optim.mask);
        if (rc != 0) {
            return rc;
        }
    }
    d->sparse_tasks = true;
    pd_log_info("GRAD tasks carry their minibatch's keys only (sparse_tasks)%s",
                d->optim.reg.kind != PD_REG_NONE ? "; the prox of untouched keys is deferred" : "");
    return 0;
}

int pd_job_load(pd_daemon_t *d)
{
    const pd_config_t *c = &d->cfg;
    char err[512] = "";
    size_t dim;
    int rc;

    if (c->model_type == PD_MODEL_NONE) {
        memset(&d->model, 0, sizeof(d->model));
        d->model.kind = PD_MODEL_NONE;
        d->model.dim = (size_t)c->dim;
    } else if (c->model_type == PD_MODEL_QUADRATIC) {
        rc = load_quadratic(d);
        if (rc != 0) {
            return rc;
        }
    } else {
        rc = pd_job_load_data(c, &d->train, &d->test);
        if (rc != 0) {
            return rc;
        }
        rc = bind_model(d, err, sizeof(err));
        if (rc != 0) {
            pd_log_err("training set %s does not fit model %s: %s", c->train_path,
                       pd_model_kind_name((pd_model_kind_t)c->model_type), err);
            return rc;
        }
        pd_log_info("loaded %s: %zu samples, %zu features%s", c->train_path, d->train->m,
                    d->train->p, d->train->sparse ? " (sparse)" : "");
    }
    dim = d->model.dim;
    if (dim == 0) {
        pd_log_err("the model has no parameters");
        return PD_ECONFIG;
    }
    /* A plain vector (type = none) regularises every key: no mask (NULL means all), which
     * would otherwise be a second resident vector as large as the model. Only the methods
     * that refuse type = none read the mask directly. */
    d->mask = d->model.kind == PD_MODEL_NONE ? NULL : malloc(dim * sizeof(double));
    d->grad_scratch = malloc(dim * sizeof(double));
    if ((d->mask == NULL && d->model.kind != PD_MODEL_NONE) || d->grad_scratch == NULL) {
        return -ENOMEM;
    }
    if (d->mask != NULL) {
        pd_model_bias_mask(&d->model, d->mask);
    }
    /* Alone, or shard 0, or shard i: this process holds the keys [key_begin, key_end). */
    d->key_begin = 0;
    d->key_end = dim;
    if (c->shards > 1 &&
        pd_shards_range(dim, (unsigned)c->shards, d->opts.shard_index, &d->key_begin,
                        &d->key_end) != 0) {
        pd_log_err("[server] shards = %" PRId64 ": the model's %zu parameters are too few (a "
                   "shard holds at least one block of 512)", c->shards, dim);
        return PD_ECONFIG;
    }
    if (d->key_begin > 0) {
        d->key_scratch = malloc((d->key_end - d->key_begin) * sizeof(uint64_t));
        if (d->key_scratch == NULL) {
            return -ENOMEM;
        }
    }
    if ((rc = pd_store_init(&d->store, d->key_end - d->key_begin)) != 0 ||
        (rc = pd_optim_init(&d->optim, d->key_end - d->key_begin)) != 0) {
        return rc;
    }
    if (d->model.kind == PD_MODEL_QUADRATIC) {
        pd_quad_start(dim, d->store.x); /* the authors' x_0 = sqrt(d) e_1 [C] */
    } else if (d->model.kind == PD_MODEL_MLP) {
        /* A network cannot start at 0 (every hidden unit would stay identical); the seed is
         * part of the job, so each run starts from the same point. A checkpoint overrides.
         * A shard draws the whole vector (the draws run in key order) and keeps its keys. */
        pd_model_init_params(&d->model, (uint64_t)c->init_seed, d->grad_scratch);
        memcpy(d->store.x, d->grad_scratch + d->key_begin,
               (d->key_end - d->key_begin) * sizeof(double));
    }
    setup_optim(d);
    if ((rc = setup_sparse_tasks(d)) != 0) {
        return rc;
    }
    d->max_msg_bytes = d->cfg.max_message_size > 0 ? (size_t)d->cfg.max_message_size
                                                   : 2 * dim * sizeof(double) + 65536;
    d->method = d->opts.shard_index > 0 ? pd_method_get_for_shard(c->method)
                                        : pd_method_get(c->method);
    rc = d->method->init(d);
    if (rc != 0) {
        return rc;
    }
    fill_job(d);
    return 0;
}
