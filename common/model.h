/* model.h - per-sample losses with gradient and Hessian-vector product (ALGORITHMS.md §6).
 * Workers return sums over a set of sample indices; the server normalises and adds the
 * regulariser (prox.h), so nothing here knows about regularisation. float64 throughout;
 * sparse data stays CSR. Pure functions: no I/O, no globals; safe from several threads on
 * disjoint outputs. */
#ifndef PD_COMMON_MODEL_H
#define PD_COMMON_MODEL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "data.h"

typedef enum pd_model_kind {
    PD_MODEL_NONE = 0,   /* key-value jobs: no model on the server, only a vector of `dim` */
    PD_MODEL_LOGISTIC,   /* binary logistic regression, labels {0,1} or {-1,+1} (§6.1) */
    PD_MODEL_SOFTMAX,    /* multinomial softmax regression, labels 0..C-1 (§6.2) */
    PD_MODEL_LSQ,        /* least squares, real labels (§6.3) */
    PD_MODEL_QUADRATIC,  /* synthetic tridiagonal quadratic finite sum (§3.8, §6.3; quad.h) */
    PD_MODEL_MLP,        /* multilayer perceptron, softmax cross-entropy, labels 0..C-1 (§6.4) */
} pd_model_kind_t;

/* The MLP's shape: L weight layers between width[0] inputs (the features) and width[L]
 * outputs (the classes). Hidden layers apply the activation; the last gives the logits. */
#define PD_MLP_MAX_LAYERS 8
typedef enum pd_activation { PD_ACT_TANH = 0, PD_ACT_RELU } pd_activation_t;
typedef struct pd_mlp_shape {
    size_t n_layers;                     /* L >= 1 */
    size_t width[PD_MLP_MAX_LAYERS + 1]; /* each >= 1; width[L] >= 2 */
    pd_activation_t activation;
} pd_mlp_shape_t;

typedef struct pd_model {
    pd_model_kind_t kind;
    size_t p;          /* features */
    size_t n_classes;  /* softmax: C >= 2; others 1 */
    bool bias;         /* a constant-1 feature (last coordinate of each row of W) */
    bool bias_regularized; /* the regularisers penalise the bias coordinates too (set after
                            * binding; pd_model_bias_mask reads it) */
    /* Not NULL: a flag another thread sets to stop the computations under way (paramd-worker
     * on CANCEL); they then return PD_ECANCELED with partial sums. Set after binding. */
    const atomic_int *cancel;
    size_t dim;        /* parameters: (p + bias) * C for softmax, p + bias otherwise; for the
                        * MLP the sum over layers of width[l] * (width[l-1] + 1) */
    pd_mlp_shape_t mlp; /* MLP only (zero otherwise) */
} pd_model_t;

/* Fill *m for a data set: checks the labels fit the kind (logistic: exactly two values
 * among {0,1} or {-1,+1}; softmax: integers in [0, n_classes) with n_classes = 0 meaning
 * max label + 1; lsq: finite). Returns 0 or PD_EDATA with a message in errbuf. */
int pd_model_bind(pd_model_t *m, pd_model_kind_t kind, const pd_data_t *d, size_t n_classes,
                  bool bias, char *errbuf, size_t errlen);

/* The quadratic model over components made by pd_quad_generate() (quad.h): d has 2 columns
 * and dim is the length of x, which the components do not fix. 0 or PD_EDATA. */
int pd_model_bind_quadratic(pd_model_t *m, const pd_data_t *d, size_t dim, char *errbuf,
                            size_t errlen);

/* The MLP on a data set: width[0] must equal its features and its labels must be integers
 * in [0, width[L]). Every layer has a bias (bias is always true). 0 or PD_EDATA. */
int pd_model_bind_mlp(pd_model_t *m, const pd_data_t *d, const pd_mlp_shape_t *shape,
                      char *errbuf, size_t errlen);

/* Parse "784,128,10" (widths from the input to the output, 2 to PD_MLP_MAX_LAYERS + 1 of
 * them, each in [1, 2^24]) into shape->n_layers and shape->width. 0 or -EINVAL with the
 * reason in errbuf. */
int pd_mlp_parse_layers(const char *text, pd_mlp_shape_t *shape, char *errbuf, size_t errlen);

/* The starting point of a job (dim entries), a function of the model and seed only:
 * zero for linear models; for the MLP, biases 0 and each W_l uniform in [-a, a] with
 * a = sqrt(6 / (fan_in + fan_out)) (Glorot, for tanh) or sqrt(6 / fan_in) (He, for relu). */
void pd_model_init_params(const pd_model_t *m, uint64_t seed, double *x);

/* The model's parameter tensors in layout order, as lengths in the flat vector (linear
 * models: one; MLP: W_1, b_1, ..., W_L, b_L). Writes at most cap; returns the count. */
size_t pd_model_tensors(const pd_model_t *m, size_t *lengths, size_t cap);

/* Parameter layout: softmax W is C rows of (p + bias), row-major; the bias is the last entry
 * of a row. MLP: for l = 1..L, W_l (width[l] rows of width[l-1], row-major) then b_l
 * (width[l]). pd_model_bias_mask() writes 1.0 for coordinates that are regularised and 0.0
 * for bias coordinates (dim entries; all 1.0 with bias_regularized). */
void pd_model_bias_mask(const pd_model_t *m, double *mask);

/* Sum over the indices idx[0..n-1] (repeats allowed) of f_j(x) and grad f_j(x).
 * grad (dim entries) is ADDED to; *loss_sum is set. Returns 0, or PD_EDIM for an index
 * out of range. */
int pd_model_grad_sum(const pd_model_t *m, const pd_data_t *d, const double *x,
                      const uint32_t *idx, size_t n, double *grad, double *loss_sum);

/* Sum of f_j(x) only (cheaper). */
int pd_model_loss_sum(const pd_model_t *m, const pd_data_t *d, const double *x,
                      const uint32_t *idx, size_t n, double *loss_sum);

/* Sum over idx of the Hessian of f_j at x times v, ADDED to hv (dim entries). */
int pd_model_hvp_sum(const pd_model_t *m, const pd_data_t *d, const double *x, const double *v,
                     const uint32_t *idx, size_t n, double *hv);

/* Over the contiguous sample range [begin, end): loss sum and number of correct predictions
 * (classification: argmax / sign; lsq: always 0). For evaluation rounds. */
int pd_model_eval_range(const pd_model_t *m, const pd_data_t *d, const double *x, size_t begin,
                        size_t end, double *loss_sum, uint64_t *correct);

/* The keys where the gradient of the samples idx[0..n) can be nonzero, for a linear model
 * (logistic, softmax, least-squares) on sparse data: each class's weights of the features the
 * samples hold, and its bias. Ascending, no repeats, at most pd_model_batch_keys_cap of them
 * (0 for other models and dense data). keys has room for cap. 0, -EINVAL (no such model or
 * dense data), or PD_EDIM (an index past the data, or cap too small). */
size_t pd_model_batch_keys_cap(const pd_model_t *m, const pd_data_t *d, const uint32_t *idx,
                               size_t n);
int pd_model_batch_keys(const pd_model_t *m, const pd_data_t *d, const uint32_t *idx, size_t n,
                        uint64_t *keys, size_t cap, size_t *n_keys);

/* Upper bound on the smoothness constant L of the mean loss (§6: power iteration on A^T A
 * with 50 iterations; scaled by 1/4 for logistic and 1/2 for softmax). */
double pd_model_lipschitz(const pd_model_t *m, const pd_data_t *d);

/* The model predicts a class (logistic, softmax, mlp), so accuracy means something. */
bool pd_model_classifies(const pd_model_t *m);

const char *pd_model_kind_name(pd_model_kind_t k);
/* "tanh" or "relu"; -EINVAL for anything else. */
int pd_activation_parse(const char *name);
const char *pd_activation_name(pd_activation_t a);

/* "logistic", "softmax", "least-squares", "quadratic", "mlp", "none"; -EINVAL otherwise. */
int pd_model_kind_parse(const char *name);

#endif
