/*
 * nn — neural-network layer kernels, forward and backward (llm.c style).
 *
 * Free functions on raw float32 pointers, output first, then inputs, then
 * sizes. Every activation is NCHW: (B, C, H, W) row-major, HW = H * W.
 * Weights use PyTorch's layouts, so a checkpoint (ckpt.h) loads into torch
 * as it is:
 *   conv2d            weight (OC, C, K, K), bias (OC)
 *   convt2x2          weight (C, OC, 2, 2), bias (OC)   (ConvTranspose2d)
 *   linear            weight (OUT, IN),     bias (OUT)
 *   batchnorm/groupnorm gamma = weight (C), beta = bias (C)
 *
 * Gradient contract:
 *   - parameter gradients (dweight, dbias, dgamma, dbeta) ACCUMULATE (+=), so
 *     several backward calls add up until pblock_zero_grad();
 *   - input gradients (dinp) are WRITTEN (=), every element; where one tensor
 *     feeds two consumers (residual add, skip connection) the caller adds.
 *     This saves a memset pass over every activation gradient per step.
 *   - any gradient pointer may be NULL: that gradient is not computed
 *     (e.g. dinp of the first layer).
 *   - backward functions read the forward's inputs/outputs as documented;
 *     the caller keeps them.
 * Except where stated, out must not alias inp.
 *
 * Speed: the functions pick a kernel at run time: AVX-512, AVX2+FMA or
 * portable C (nn_isa()); results of the paths agree to float rounding (the
 * tests check each against naive loops). 3x3 stride-1 convolutions with
 * enough channels on planes of 16x16 or more run Winograd's F(4x4, 3x3)
 * (winograd.c, nn_set_winograd), other 3x3 and 1x1 stride-1 convolutions
 * (small planes with the batch folded into one image), 3x3 stride-2 ones
 * (over the input's four phases) and the transposed convolution direct
 * AVX-512 kernels (conv_direct.c); others im2col + the engine's GEMM. They use nn_threads() threads (the
 * engine's own pool, not OpenMP: see threadpool.c) inside each call; call them
 * from one thread at a time per process (scratch memory is per calling
 * thread and reused, never freed per call).
 *
 * Not here: models (unet.h, resnet.h, mlp.h, vit.h), losses, optimisers (optim.h).
 */
#ifndef LRC_NN_H
#define LRC_NN_H

#include <stddef.h>
#include <stdint.h>

#include "core/isa.h"
#include "core/rng.h"

/* ---- engine settings ---------------------------------------------------- */

/* Threads used inside each kernel call (1..64). The default is the number of
 * online CPUs. Filters map --threads N to this. No BLAS library is used by
 * the kernels or the trainers (MoCo's queue products run on nn_gemm), so
 * results depend on the instruction set alone, not on the CPU model a BLAS
 * would recognise, nor on the thread count. */
void nn_set_threads(int n);
int nn_threads(void);

enum { NN_ISA_C = ISA_C, NN_ISA_AVX2 = ISA_AVX2, NN_ISA_AVX512 = ISA_AVX512 };
/* The instruction set in use, as core/isa.h chooses it for the whole
 * library: the best the CPU has, unless LRCPIPE_ISA=c|avx2|avx512 in the
 * environment or nn_set_isa() chose another. */
int nn_isa(void);
const char *nn_isa_name(int isa);
/* Force a path (tests, benchmarks). -1 with err_set if the CPU lacks it. */
int nn_set_isa(int isa);

/* Winograd F(2x2, 3x3) for the 3x3 stride-1 convolutions (AVX-512 only):
 * mode 0 off, 1 where it is faster than the direct kernels (the default),
 * 2 on every one (tests); LRCPIPE_WINOGRAD=0|1|2 in the environment or
 * nn_set_winograd(). Its results differ from the direct kernels' by float
 * rounding (tests/test_nn.c bounds the difference). */
void nn_set_winograd(int mode);
int nn_winograd(void);
/* Small convolutions run Winograd fused, one tile row at a time in the
 * cache; nn_set_winograd_fused(0) or LRCPIPE_WINOGRAD_FUSED=0 makes them
 * take the unfused path (tests compare the two). */
void nn_set_winograd_fused(int on);
int nn_winograd_fused(void);

/* Normalisation layer of a model (unet.h, resnet.h). */
typedef enum { NORM_BATCH = 0, NORM_GROUP = 1 } nn_norm_kind;

/* ---- initialisation (PyTorch's schemes) --------------------------------- */

/* U(-bound, bound) */
void nn_init_uniform(float *w, size_t n, float bound, rng *r);
/* N(0, std) */
void nn_init_normal(float *w, size_t n, float std, rng *r);
/* kaiming_normal_(mode='fan_out', nonlinearity='relu'): std = sqrt(2 / fan_out),
 * torchvision's choice for convolutions. */
void nn_init_kaiming_normal(float *w, size_t n, int fan, rng *r);
/* PyTorch's default for Conv/Linear weights and biases:
 * U(-1/sqrt(fan_in), 1/sqrt(fan_in)). */
void nn_init_default(float *w, size_t n, int fan_in, rng *r);

/* ---- convolution --------------------------------------------------------- */

/* Output size of a convolution along one axis. */
static inline int conv_out_size(int in, int k, int stride, int pad)
{
    return (in + 2 * pad - k) / stride + 1;
}

/* 2D convolution, square kernel K (1, 3, 7 ...), zero padding, no dilation.
 * out (B, OC, OH, OW), inp (B, C, H, W), weight (OC, C, K, K), bias (OC) or NULL.
 * OH = conv_out_size(H, K, stride, pad), likewise OW. */
void conv2d_forward(float *out, const float *inp, const float *weight, const float *bias,
                    int B, int C, int H, int W, int OC, int K, int stride, int pad);
/* dinp (B, C, H, W) written; dweight (OC, C, K, K), dbias (OC) accumulated.
 * Needs dout (B, OC, OH, OW), inp (for dweight), weight (for dinp). */
void conv2d_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                     const float *inp, const float *weight,
                     int B, int C, int H, int W, int OC, int K, int stride, int pad);

/* The same convolution over the channel concatenation [inp1, inp2] without
 * materialising it (a U-Net decoder's skip connection):
 * inp1 (B, C1, H, W), inp2 (B, C2, H, W), weight (OC, C1 + C2, K, K).
 * Backward writes dinp1 and dinp2 (either may be NULL). */
void conv2d_cat_forward(float *out, const float *inp1, int C1, const float *inp2, int C2,
                        const float *weight, const float *bias,
                        int B, int H, int W, int OC, int K, int stride, int pad);
void conv2d_cat_backward(float *dinp1, float *dinp2, float *dweight, float *dbias,
                         const float *dout, const float *inp1, int C1, const float *inp2, int C2,
                         const float *weight, int B, int H, int W, int OC, int K, int stride,
                         int pad);

/* Transposed convolution, kernel 2, stride 2 (ConvTranspose2d(C, OC, 2, 2)):
 * out (B, OC, 2H, 2W), inp (B, C, H, W), weight (C, OC, 2, 2), bias (OC) or NULL. */
void convt2x2_forward(float *out, const float *inp, const float *weight, const float *bias,
                      int B, int C, int H, int W, int OC);
void convt2x2_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                       const float *inp, const float *weight, int B, int C, int H, int W, int OC);

/* ---- normalisation --------------------------------------------------------- */

/* Batch normalisation over (B, HW) per channel, as torch.nn.BatchNorm2d.
 * training = 1: normalise with the batch mean and biased variance, write
 *   save_mean (C) and save_rstd (C) = 1/sqrt(var + eps) for backward, and
 *   update running_mean/running_var (C) with momentum m (PyTorch's 0.1):
 *   r = (1 - m) r + m x, running_var taking the unbiased variance; either
 *   running pointer may be NULL to skip the update.
 * training = 0: normalise with running_mean/running_var (save_* untouched).
 * relu = 1 applies ReLU to the result (fused; backward then needs `out`).
 * out (B, C, HW), inp (B, C, HW); out may alias inp only when relu = 0 and
 * no backward follows (inference). */
void batchnorm_forward(float *out, float *save_mean, float *save_rstd, float *running_mean,
                       float *running_var, const float *inp, const float *gamma, const float *beta,
                       int B, int C, int HW, float momentum, float eps, int training, int relu);
/* Backward of batchnorm_forward. training = 1 uses save_mean/save_rstd
 * (the batch statistics' gradient included); training = 0 is the affine map
 * with the running statistics: pass running_mean as save_mean, save_rstd =
 * NULL and running_var (rstd is derived from it). relu = 1: out is the
 * forward's output and gates dout. dinp may alias dout. */
void batchnorm_backward(float *dinp, float *dgamma, float *dbeta, const float *dout,
                        const float *inp, const float *out, const float *save_mean,
                        const float *save_rstd, const float *running_var, const float *gamma,
                        int B, int C, int HW, float eps, int training, int relu);

/* Synchronised batch norm for data-parallel training: with a hook set,
 * batchnorm_forward in training sums its per-channel statistics (counts,
 * values, squares about the mean) and batchnorm_backward with training = 1
 * its per-channel sums of g and g xhat over the processes of the job
 * through sum(v, n) (v[0..n) := the sum of every process's v), so that N
 * processes of B samples normalise, and differentiate, as one process of
 * N B (to float rounding). dgamma and dbeta stay this process's: the
 * trainer reduces them with the other gradients. The g each process feeds
 * backward must be its share of the one loss of all processes (weighted
 * before backward, not after), and every process must run the same batch
 * norm calls in the same order. Group norm and inference never call it.
 * NULL (the default) turns it off. */
typedef int (*nn_sum_fn)(double *v, int n);
void nn_set_bn_sum(nn_sum_fn sum);
/* 0, or -1 when a sum of the hook failed since the last call (its message
 * in err_get; the kernels return nothing, so a trainer asks after a step). */
int nn_bn_sum_status(void);

/* Group normalisation (torch.nn.GroupNorm(G, C)): statistics per (sample,
 * group of C/G channels); C % G == 0. save_mean, save_rstd (B, G).
 * relu as for batchnorm. Same in training and inference. */
void groupnorm_forward(float *out, float *save_mean, float *save_rstd, const float *inp,
                       const float *gamma, const float *beta, int B, int C, int HW, int G,
                       float eps, int relu);
void groupnorm_backward(float *dinp, float *dgamma, float *dbeta, const float *dout,
                        const float *inp, const float *out, const float *save_mean,
                        const float *save_rstd, const float *gamma, int B, int C, int HW, int G,
                        int relu);

/* ---- element-wise, pooling, concatenation, linear ------------------------ */

/* out = max(inp, 0); out may alias inp. */
void relu_forward(float *out, const float *inp, size_t n);
/* dinp = dout * (out > 0), from the forward's output; dinp may alias dout. */
void relu_backward(float *dinp, const float *dout, const float *out, size_t n);
/* relu_backward, and dcopy = dinp in the same pass (a residual block's two
 * branches); dcopy aliases none of the others. */
void relu_backward2(float *dinp, float *dcopy, const float *dout, const float *out, size_t n);

/* out = a + b (residual connections); out may alias a or b. */
void add_forward(float *out, const float *a, const float *b, size_t n);
/* out = max(a + b, 0) in one pass: add_forward then relu_forward. */
void add_relu_forward(float *out, const float *a, const float *b, size_t n);
/* dst += src */
void add_inplace(float *dst, const float *src, size_t n);

/* 2x2 max pooling, stride 2: out (B, C, H/2, W/2), inp (B, C, H, W), H and W even.
 * Backward routes each gradient to the first maximum of its window (PyTorch's
 * tie rule; with NaN, the first NaN), found again from inp and out; dinp
 * (B, C, H, W) written. */
void maxpool2x2_forward(float *out, const float *inp, int B, int C, int H, int W);
void maxpool2x2_backward(float *dinp, const float *dout, const float *inp, const float *out,
                         int B, int C, int H, int W);

/* 3x3 max pooling, stride 2, padding 1 (torchvision's ResNet stem):
 * out (B, C, OH, OW), OH = (H - 1) / 2 + 1, likewise OW. Backward routes each
 * gradient to the first maximum of its window in row-major order (PyTorch's
 * rule; padding never wins), found again from inp; dinp written. */
void maxpool3x3s2_forward(float *out, const float *inp, int B, int C, int H, int W);
void maxpool3x3s2_backward(float *dinp, const float *dout, const float *inp, int B, int C, int H, int W);

/* 2x bilinear up-sampling, as F.interpolate(scale_factor=2, mode="bilinear",
 * align_corners=False): out (B, C, 2H, 2W) from inp (B, C, H, W). Backward
 * writes dinp (B, C, H, W) from dout (B, C, 2H, 2W). */
void upsample2x_forward(float *out, const float *inp, int B, int C, int H, int W);
void upsample2x_backward(float *dinp, const float *dout, int B, int C, int H, int W);

/* Channel concatenation: out (B, Ca + Cb, HW) = [a (B, Ca, HW), b (B, Cb, HW)].
 * Backward splits dout into da and db (written; either may be NULL). */
void concat_forward(float *out, const float *a, const float *b, int B, int Ca, int Cb, int HW);
void concat_backward(float *da, float *db, const float *dout, int B, int Ca, int Cb, int HW);

/* Global average pooling: out (B, C) = mean over HW of inp (B, C, HW). */
/* Argmax over C per pixel: pred (N, HW) from logits (N, C, HW), first
 * maximum wins (numpy.argmax's rule). */
void channel_argmax(uint8_t *pred, const float *logits, int N, int C, int HW);
void avgpool_forward(float *out, const float *inp, int B, int C, int HW);
void avgpool_backward(float *dinp, const float *dout, int B, int C, int HW);

/* Linear layer: out (B, OUT) = inp (B, IN) weight^T + bias; weight (OUT, IN). */
void linear_forward(float *out, const float *inp, const float *weight, const float *bias, int B,
                    int IN, int OUT);
void linear_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                     const float *inp, const float *weight, int B, int IN, int OUT);

/* ---- transformer layers (transformer.c) ---------------------------------- */

/* Layer normalisation over the last dimension, as torch.nn.LayerNorm(C, eps):
 * out (N, C), inp (N, C), weight and bias (C); save_mean, save_rstd (N)
 * = 1/sqrt(biased var + eps) kept for backward. out must not alias inp. */
void layernorm_forward(float *out, float *save_mean, float *save_rstd, const float *inp,
                       const float *weight, const float *bias, int N, int C, float eps);
/* dinp (N, C) written, dweight and dbias (C) accumulated; needs inp and the
 * saved statistics. dinp must not alias dout. */
void layernorm_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                        const float *inp, const float *save_mean, const float *save_rstd,
                        const float *weight, int N, int C);

/* GELU in its exact form, x Phi(x) = x (1 + erf(x / sqrt 2)) / 2 (torch's
 * default, approximate='none'); out may alias inp. Backward from the
 * forward's input; dinp may alias dout. */
void gelu_forward(float *out, const float *inp, size_t n);
void gelu_backward(float *dinp, const float *dout, const float *inp, size_t n);

/* The core of multi-head self-attention, between the QKV projection and the
 * output projection (timm's Attention, whose linears are linear_forward):
 * qkv (B, T, 3C) holds [q | k | v] per token, head h the columns
 * h hs .. (h+1) hs - 1 of each third (hs = C / NH: timm's
 * reshape(B, T, 3, NH, hs)); att (B, NH, T, T) = softmax(q k^T / sqrt(hs))
 * is kept for backward; out (B, T, C) = att v, heads side by side. The
 * products run on nn_gemm, one (sample, head) per task. */
void attention_forward(float *out, float *att, const float *qkv, int B, int T, int C, int NH);
/* dqkv (B, T, 3C) written from dout (B, T, C), qkv and att. */
void attention_backward(float *dqkv, const float *dout, const float *qkv, const float *att, int B,
                        int T, int C, int NH);

/* The patches of images inp (B, C, H, W), P x P, row-major over the grid:
 * out (B, (H/P) (W/P), C P P), each row in (c, py, px) order, the order of a
 * Conv2d(C, D, P, stride=P) weight's (C, P, P), so that patch embedding is
 * patchify + linear_forward with that weight viewed as (D, C P P). H and W
 * multiples of P. unpatchify is its inverse (the gradient's way back). */
void patchify(float *out, const float *inp, int B, int C, int H, int W, int P);
void unpatchify(float *out, const float *patches, int B, int C, int H, int W, int P);

/* The fixed 2-D sine-cosine position embedding of MAE
 * (get_2d_sincos_pos_embed) for a grid of gh x gw tokens, row-major: out
 * (gh gw, D), D a multiple of 4; the first D/2 columns encode the token's
 * column, the last D/2 its row, each as [sin(p w_k) | cos(p w_k)] with
 * w_k = 10000^(-k / (D/4)), k < D/4; computed in double as NumPy does. */
void sincos_pos_embed_2d(float *out, int D, int gh, int gw);

/* ---- matrix multiply (what the kernels build on) ------------------------- */

/* C (M, N) = alpha * op(A) op(B) + beta * C, row-major, op = transpose if
 * ta / tb. op(A) is (M, K), op(B) is (K, N); lda, ldb, ldc are row strides.
 * beta = 0 ignores C's old content (NaN included). Single-threaded unless
 * threaded = 1 (then it splits over nn_threads()). */
void nn_gemm(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
             const float *B, int ldb, float beta, float *C, int ldc, int threaded);

#endif
