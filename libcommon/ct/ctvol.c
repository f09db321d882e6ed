#include "ct/ctvol.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/err.h"
#include "ct/affine.h"
#include "ct/ctmeta.h"
#include "ct/orient.h"
#include "ct/resample.h"
#include "io/nii.h"

int ctvol_label_u8(tensor *t, const char *what)
{
    tensor u;
    size_t n = tensor_numel(t);
    if (t->dtype == DT_U8)
        return 0;
    for (size_t i = 0; i < n; i++) {
        double v = tensor_get(t, i);
        if (!(v >= 0 && v <= 255 && v == floor(v)))
            return err_set("%s: label value %g (voxel %zu) is not an integer in 0..255", what, v, i);
    }
    if (tensor_convert(&u, t, DT_U8))
        return -1;
    tensor_free(t);
    tensor_move(t, &u);
    return 0;
}

static int to_f32(tensor *t)
{
    tensor u;
    if (t->dtype == DT_F32)
        return 0;
    if (tensor_convert(&u, t, DT_F32))
        return -1;
    tensor_free(t);
    tensor_move(t, &u);
    return 0;
}

static const char *shape3(const int64_t *s, char *buf, size_t n)
{
    snprintf(buf, n, "[%lld, %lld, %lld]", (long long)s[0], (long long)s[1], (long long)s[2]);
    return buf;
}

int ctvol_from_nifti(frame *f, const char *id, const char *image, const char *label)
{
    nii_image img;
    mval *m;
    frame_init(f, FRAME_DATA);
    f->z = -1;
    if (id && frame_set_id(f, id))
        return -1;
    if (nii_read(image, &img, NII_F32))
        return -1;
    if (affine_check(img.affine)) {
        nii_free(&img);
        return err_prefix("%s", image);
    }
    m = frame_meta(f);
    if (mval_put_f64v(m, "affine", img.affine, 16) || mval_put_f64v(m, "spacing", img.spacing, 3) ||
        mval_put_str(m, "source", image) || frame_tensor_add(f, "image", &img.data)) {
        nii_free(&img);
        return -1;
    }
    return label ? ctvol_add_label(f, label, image) : 0;
}

int ctvol_add_label(frame *f, const char *label, const char *image)
{
    nii_image lab;
    char b1[64], b2[64];
    double A[16];
    tensor *img = frame_tensor_get(f, "image");
    if (!img || img->rank != 3)
        return err_set("%s: no [Z,Y,X] image to put the label map beside", image);
    if (ctmeta_volume_affine(&f->meta, A))
        return err_prefix("%s", image);
    if (nii_read(label, &lab, NII_NATIVE))
        return -1;
    if (!tensor_same_shape(&lab.data, img)) {
        err_set("%s: label map grid %s differs from the image %s %s (resample it onto the image first)", label,
                shape3(lab.data.shape, b1, sizeof b1), image, shape3(img->shape, b2, sizeof b2));
        goto fail;
    }
    /* nibabel's allclose-like tolerance on float32 sform rows */
    if (!affine_close(lab.affine, A, 1e-4)) {
        err_set("%s: label map affine differs from the image %s (same voxel counts, different placement)", label,
                image);
        goto fail;
    }
    if (ctvol_label_u8(&lab.data, label) || frame_tensor_add(f, "label", &lab.data))
        goto fail;
    return 0;
fail:
    nii_free(&lab);
    return -1;
}

int ctvol_to_spacing(frame *f, const double spacing[3], int fov, size_t max_bytes, ctvol_info *info)
{
    double A[16], Acan[16], Aout[16], D[16], sin[3], r[3], off[3];
    int64_t ishape[3], cshape[3], oshape[3];
    int ornt[3][2];
    char code[4], b1[64], b2[64];
    tensor *img = frame_tensor_get(f, "image");
    mval *m = frame_meta(f);

    if (!img)
        return err_set("no 'image' tensor");
    if (img->rank != 3)
        return err_set("'image' has rank %d, want a [Z,Y,X] volume", img->rank);
    for (int d = 0; d < 3; d++)
        if (img->shape[d] < 1)
            return err_set("'image' has an empty dimension %s", shape3(img->shape, b1, sizeof b1));
    for (int d = 0; d < 3; d++)
        if (!(spacing[d] > 0) || !isfinite(spacing[d]))
            return err_set("target spacing %g is not positive", spacing[d]);
    memcpy(ishape, img->shape, sizeof ishape);
    for (int i = 0; i < f->ntensors; i++) {
        tensor *t = &f->tensors[i].t;
        if (t->rank == 3 && memcmp(t->shape, ishape, sizeof ishape))
            return err_set("tensor '%s' %s is not on the grid of 'image' %s", f->tensors[i].name,
                           shape3(t->shape, b1, sizeof b1), shape3(ishape, b2, sizeof b2));
    }
    if (ctmeta_volume_affine(&f->meta, A) || orient_ras(ornt, A))
        return -1;
    orient_code(code, ornt);
    if (!mval_map_get(m, "orig_affine")) {
        if (mval_put_f64v(m, "orig_affine", A, 16) || mval_put_i64v(m, "orig_shape", ishape, 3) ||
            mval_put_str(m, "orig_orient", code))
            return -1;
    }
    /* RAS+ by permutation and flips: no interpolation. */
    for (int i = 0; i < f->ntensors; i++) {
        tensor *t = &f->tensors[i].t, can;
        if (t->rank != 3)
            continue;
        if (!strcmp(f->tensors[i].name, "label") && ctvol_label_u8(t, "label"))
            return -1;
        if (!ctmeta_is_int(t->dtype) && to_f32(t))
            return -1;
        if (orient_apply(&can, Acan, t, A, ornt))
            return -1;
        tensor_free(t);
        tensor_move(t, &can);
    }
    img = frame_tensor_get(f, "image");
    memcpy(cshape, img->shape, sizeof cshape);
    nii_affine_spacing(Acan, sin);
    for (int d = 0; d < 3; d++) {
        r[d] = spacing[d] / sin[d];
        off[d] = fov ? (r[d] - 1) / 2 : 0;
        oshape[d] = fov ? resample_fov_len(cshape[d], r[d]) : resample_grid_len(cshape[d], r[d]);
        if (oshape[d] < 1)
            return err_set("cannot resample spacing %g to %g", sin[d], spacing[d]);
    }
    if (shape_numel_checked(3, oshape, 4, max_bytes) < 0)
        return err_set("the resampled volume %s would exceed %zu bytes (use a coarser --spacing or --max-record)",
                       shape3(oshape, b1, sizeof b1), max_bytes);
    for (int i = 0; i < f->ntensors; i++) {
        tensor *t = &f->tensors[i].t, o;
        if (t->rank != 3)
            continue;
        if (tensor_init(&o, t->dtype, 3, oshape))
            return -1;
        if (ctmeta_is_int(t->dtype))
            resample_nearest3(o.data, oshape, t->data, cshape, r, off, dtype_size(t->dtype));
        else
            resample_linear3_f32(o.data, oshape, t->data, cshape, r, off);
        tensor_free(t);
        tensor_move(t, &o);
    }
    /* Output voxel o sits at canonical voxel diag(r) o + off. */
    affine_eye(D);
    D[0] = r[2], D[5] = r[1], D[10] = r[0];
    D[3] = off[2], D[7] = off[1], D[11] = off[0];
    affine_mul(Aout, Acan, D);
    if (mval_put_f64v(m, "spacing", spacing, 3) || mval_put_f64v(m, "affine", Aout, 16) ||
        mval_put_str(m, "grid", fov ? "fov" : "corner"))
        return -1;
    if (info) {
        memcpy(info->in_shape, ishape, sizeof ishape);
        memcpy(info->out_shape, oshape, sizeof oshape);
        memcpy(info->in_spacing, sin, sizeof sin);
        memcpy(info->orient, code, sizeof code);
    }
    return 0;
}

int ctvol_to_grid(frame *f, const double *target_affine, const int64_t *target_shape, size_t max_bytes)
{
    double A[16], At[16], Ainv[16], M[16], sp[3];
    int64_t shape[3], tshape[3];
    int have = 0;
    char b1[64], b2[64];
    mval *m = frame_meta(f);
    if (ctmeta_volume_affine(&f->meta, A))
        return -1;
    if (target_affine) {
        memcpy(At, target_affine, sizeof At);
        memcpy(tshape, target_shape, sizeof tshape);
    } else {
        int r1 = mval_get_f64v(m, "orig_affine", At, 16), r2;
        if (r1 < 0)
            return -1;
        r2 = mval_get_i64v(m, "orig_shape", tshape, 3);
        if (r2 < 0)
            return -1;
        if (r1 || r2)
            return err_set("meta has no orig_affine/orig_shape (not made by ct-resample? use --like REF.nii.gz)");
    }
    if (affine_check(At))
        return err_prefix("target affine");
    for (int d = 0; d < 3; d++)
        if (tshape[d] < 1)
            return err_set("target shape %s is not a volume shape", shape3(tshape, b1, sizeof b1));
    if (shape_numel_checked(3, tshape, 8, max_bytes) < 0)
        return err_set("the target grid %s is too large", shape3(tshape, b1, sizeof b1));
    if (affine_inv(Ainv, A))
        return err_prefix("meta 'affine'");
    affine_mul(M, Ainv, At);
    for (int i = 0; i < f->ntensors; i++) {
        tensor *t = &f->tensors[i].t;
        if (t->rank != 3)
            continue;
        if (have && memcmp(t->shape, shape, sizeof shape))
            return err_set("tensor '%s' %s is not on the grid of the others %s", f->tensors[i].name,
                           shape3(t->shape, b1, sizeof b1), shape3(shape, b2, sizeof b2));
        memcpy(shape, t->shape, sizeof shape);
        have = 1;
    }
    if (!have)
        return err_set("no [Z,Y,X] tensor to bring back");
    for (int i = 0; i < f->ntensors; i++) {
        tensor *t = &f->tensors[i].t, o;
        if (t->rank != 3)
            continue;
        if (!ctmeta_is_int(t->dtype) && to_f32(t))
            return -1;
        if (tensor_init(&o, t->dtype, 3, tshape))
            return -1;
        if (ctmeta_is_int(t->dtype))
            resample_affine_nearest(o.data, tshape, t->data, shape, M, dtype_size(t->dtype));
        else
            resample_affine_linear_f32(o.data, tshape, t->data, shape, M);
        tensor_free(t);
        tensor_move(t, &o);
    }
    nii_affine_spacing(At, sp);
    if (mval_put_f64v(m, "affine", At, 16) || mval_put_f64v(m, "spacing", sp, 3))
        return -1;
    return 0;
}
