#include "ct/ctmeta.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/json.h"
#include "core/namepat.h"
#include "io/labels.h"
#include "ct/affine.h"
#include "io/nii.h"

int ctmeta_volume_affine(const mval *meta, double affine[16])
{
    double sp[3];
    int rc = mval_get_f64v(meta, "affine", affine, 16);
    if (rc < 0)
        return -1;
    if (rc == 1) {
        rc = mval_get_f64v(meta, "spacing", sp, 3);
        if (rc < 0)
            return -1;
        if (rc == 1)
            return err_set("meta has neither 'affine' nor 'spacing' (the volume's geometry is unknown)");
        for (int i = 0; i < 3; i++)
            if (!(sp[i] > 0) || !isfinite(sp[i]))
                return err_set("meta 'spacing' [%g, %g, %g] is not positive", sp[0], sp[1], sp[2]);
        affine_eye(affine);
        affine[0] = sp[2];
        affine[5] = sp[1];
        affine[10] = sp[0];
    }
    if (affine_check(affine))
        return err_prefix("meta 'affine'");
    return 0;
}

int ctmeta_load_classes(const char *path, mval *classes)
{
    char *names[LABELS_MAX] = {0};
    int n = 0;
    if (labels_load(path, names, &n)) {
        labels_free(names);
        return -1;
    }
    mval_set_array(classes);
    for (int i = 0; i < n; i++)
        if (!mval_push(classes) || mval_set_str(&classes->a.v[i], names[i] ? names[i] : "")) {
            labels_free(names);
            return err_set("out of memory");
        }
    labels_free(names);
    return 0;
}

int ctmeta_expand(const char *pattern, const char *id, const char *name, char *out, size_t n)
{
    const char *vals[2] = {id ? id : "noid", name};
    char bad;
    switch (namepat_expand(pattern, "in", vals, out, n, &bad)) {
    case 1: return err_set("output name '%s': unknown placeholder '%%%c' (use %%i, %%n, %%%%)", pattern, bad);
    case 2: return err_set("output name '%s': too long", pattern);
    }
    return 0;
}

int ctmeta_is_nifti_name(const char *path)
{
    size_t n = strlen(path);
    return (n > 4 && !strcmp(path + n - 4, ".nii")) || (n > 7 && !strcmp(path + n - 7, ".nii.gz"));
}

int ctmeta_is_int(int dt)
{
    return dt != DT_F32 && dt != DT_F64;
}

int ctmeta_spacing(const mval *meta, double sp[3])
{
    double aff[16], s2[2];
    int ra = mval_get_f64v(meta, "affine", aff, 16);
    const mval *s = mval_map_get(meta, "spacing");
    if (ra < 0)
        return -1;
    if (s && s->kind == MV_ARRAY && s->a.n == 3)
        return mval_get_f64v(meta, "spacing", sp, 3);
    if (s && s->kind == MV_ARRAY && s->a.n == 2 && ra == 0) {
        if (mval_get_f64v(meta, "spacing", s2, 2))
            return -1;
        nii_affine_spacing(aff, sp);
        sp[1] = s2[0];
        sp[2] = s2[1];
        return 0;
    }
    if (s && (s->kind != MV_ARRAY || (s->a.n != 2 && s->a.n != 3)))
        return err_set("meta 'spacing' must be an array of 2 or 3 numbers");
    if (ra == 0) {
        nii_affine_spacing(aff, sp);
        return 0;
    }
    return 1;
}
