/*
 * ct_resample — compute time of ct-resample's kernels on one NIfTI volume,
 * for bench/ct.sh: reorientation (not timed), then the best of REPS runs of
 * the trilinear resampling to D,H,W mm; the result is written as .npy so
 * that the script can check it against scipy.
 *
 *   ct_resample IN.nii[.gz] OUT.npy D,H,W REPS
 *
 * Prints "seconds=S shape=Z,Y,X threads=T" on stdout.
 */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli/args.h"
#include "core/err.h"
#include "ct/orient.h"
#include "ct/resample.h"
#include "io/nii.h"
#include "io/npy.h"

int main(int argc, char **argv)
{
    nii_image img;
    tensor can, out;
    double A[16], sp[3], sin[3], r[3], best = 1e30;
    int64_t oshape[3];
    int ornt[3][2];
    int reps;
    err_init(argv[0]);
    if (argc != 5 || parse_f64_list(argv[3], sp, 3) || parse_int(argv[4], &reps) || reps < 1)
        die(2, "usage: ct_resample IN.nii.gz OUT.npy D,H,W REPS");
    if (nii_read(argv[1], &img, NII_F32) || orient_ras(ornt, img.affine) ||
        orient_apply(&can, A, &img.data, img.affine, ornt))
        die_err(1);
    nii_affine_spacing(A, sin);
    for (int d = 0; d < 3; d++) {
        r[d] = sp[d] / sin[d];
        oshape[d] = resample_grid_len(can.shape[d], r[d]);
    }
    if (tensor_init(&out, DT_F32, 3, oshape))
        die_err(1);
    for (int i = 0; i < reps; i++) {
        double t0 = omp_get_wtime(), t;
        resample_linear3_f32(out.data, oshape, can.data, can.shape, r, NULL);
        t = omp_get_wtime() - t0;
        if (t < best)
            best = t;
    }
    if (npy_write(argv[2], &out))
        die_err(1);
    printf("seconds=%.6f shape=%lld,%lld,%lld threads=%d\n", best, (long long)oshape[0], (long long)oshape[1],
           (long long)oshape[2], omp_get_max_threads());
    return 0;
}
