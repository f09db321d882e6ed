#include "ct/dicomvol.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/err.h"
#include "core/tensor.h"
#include "ct/affine.h"

#define DEPTH_MAX 16

/* ---- finding the files ---- */

typedef struct {
    char **v;
    size_t n, cap;
} pathlist;

static int pathlist_add(pathlist *l, const char *p)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 64;
        char **v = realloc(l->v, cap * sizeof *v);
        if (!v)
            return err_set("out of memory");
        l->v = v;
        l->cap = cap;
    }
    if (!(l->v[l->n] = strdup(p)))
        return err_set("out of memory");
    l->n++;
    return 0;
}

static void pathlist_free(pathlist *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Regular files under dir (symbolic links to folders are not followed, so
 * a loop cannot recurse). */
static int walk(const char *dir, int depth, pathlist *l)
{
    DIR *d;
    struct dirent *e;
    int rc = 0;
    if (depth > DEPTH_MAX)
        return err_set("%s: folders nested deeper than %d levels", dir, DEPTH_MAX);
    if (!(d = opendir(dir)))
        return err_set("%s:", dir);
    while (!rc && (e = readdir(d))) {
        char p[4096];
        struct stat st, lst;
        if (e->d_name[0] == '.')
            continue; /* ., .., and hidden files (.DS_Store) */
        if ((size_t)snprintf(p, sizeof p, "%s/%s", dir, e->d_name) >= sizeof p) {
            rc = err_set("%s/%s: path too long", dir, e->d_name);
            break;
        }
        if (lstat(p, &lst) || stat(p, &st))
            continue; /* a dangling link */
        if (S_ISDIR(st.st_mode)) {
            if (!S_ISLNK(lst.st_mode))
                rc = walk(p, depth + 1, l);
        } else if (S_ISREG(st.st_mode)) {
            rc = pathlist_add(l, p);
        }
    }
    closedir(d);
    return rc;
}

int dicomvol_is_dicom_path(const char *path)
{
    struct stat st;
    unsigned char head[132];
    FILE *fp;
    size_t n;
    if (stat(path, &st))
        return 0;
    if (S_ISDIR(st.st_mode))
        return 1;
    if (!(fp = fopen(path, "rb")))
        return 0;
    n = fread(head, 1, sizeof head, fp);
    fclose(fp);
    return dcm_sniff(head, n);
}

/* ---- grouping into series ---- */

static int series_add(dicom_set *set, const char *path, const dcm_info *info)
{
    dicom_series *s = NULL;
    for (int i = 0; i < set->n && !s; i++)
        if (!strcmp(set->series[i].uid, info->series_uid))
            s = &set->series[i];
    if (!s) {
        dicom_series *v = realloc(set->series, (size_t)(set->n + 1) * sizeof *v);
        if (!v)
            return err_set("out of memory");
        set->series = v;
        s = &v[set->n++];
        memset(s, 0, sizeof *s);
        memcpy(s->uid, info->series_uid, sizeof s->uid);
    }
    {
        char **p = realloc(s->paths, (size_t)(s->n + 1) * sizeof *p);
        dcm_info *in;
        if (!p)
            return err_set("out of memory");
        s->paths = p;
        if (!(in = realloc(s->info, (size_t)(s->n + 1) * sizeof *in)))
            return err_set("out of memory");
        s->info = in;
        if (!(s->paths[s->n] = strdup(path)))
            return err_set("out of memory");
        s->info[s->n++] = *info;
    }
    return 0;
}

static int cmp_series(const void *a, const void *b)
{
    const dicom_series *x = a, *y = b;
    int nx = x->info[0].series_number, ny = y->info[0].series_number;
    if (nx != ny)
        return nx < ny ? -1 : 1;
    return strcmp(x->uid, y->uid);
}

void dicomvol_series_free(dicom_series *s)
{
    for (int k = 0; k < s->n; k++)
        free(s->paths[k]);
    free(s->paths);
    free(s->info);
    memset(s, 0, sizeof *s);
}

void dicomvol_set_free(dicom_set *set)
{
    for (int i = 0; i < set->n; i++)
        dicomvol_series_free(&set->series[i]);
    free(set->series);
    memset(set, 0, sizeof *set);
}

static int scan_all(const char *path, dicom_set *set);

int dicomvol_scan(const char *path, dicom_set *set)
{
    struct stat st;
    dcm_info one;
    char dir[4096];
    const char *slash = strrchr(path, '/');
    int k = 0, r;
    memset(set, 0, sizeof *set);
    if (stat(path, &st))
        return err_set("%s:", path);
    if (!S_ISREG(st.st_mode))
        return scan_all(path, set);
    /* one file: its series, among the files of its folder */
    if ((r = dcm_read_info(path, &one)) <= 0)
        return r < 0 ? -1 : err_set("%s: not a DICOM file", path);
    if (!one.has_pixels)
        return err_set("%s: a DICOM object without pixels (SOP class %s), not an image", path, one.sop_class);
    snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - path) : 1, slash ? path : ".");
    if (scan_all(dir, set))
        return -1;
    for (int i = 0; i < set->n; i++) {
        if (!strcmp(set->series[i].uid, one.series_uid))
            set->series[k++] = set->series[i];
        else
            dicomvol_series_free(&set->series[i]);
    }
    set->n = k;
    return 0;
}

static int scan_all(const char *path, dicom_set *set)
{
    pathlist l = {0};
    struct stat st;
    memset(set, 0, sizeof *set);
    if (stat(path, &st))
        return err_set("%s:", path);
    if (S_ISDIR(st.st_mode) ? walk(path, 0, &l) : pathlist_add(&l, path))
        goto fail;
    if (l.n)
        qsort(l.v, l.n, sizeof *l.v, cmp_str);
    for (size_t i = 0; i < l.n; i++) {
        dcm_info info;
        int r = dcm_read_info(l.v[i], &info);
        if (r < 0)
            goto fail;
        if (r == 0 || !info.has_pixels) {
            log_debug("%s: not a DICOM image, skipped", l.v[i]);
            set->skipped++;
            continue;
        }
        if (series_add(set, l.v[i], &info))
            goto fail;
    }
    if (!set->n) {
        err_set("%s: no DICOM image %s (%d file%s skipped)", path, S_ISDIR(st.st_mode) ? "under it" : "in it",
                set->skipped, set->skipped == 1 ? "" : "s");
        goto fail;
    }
    qsort(set->series, (size_t)set->n, sizeof *set->series, cmp_series);
    pathlist_free(&l);
    return 0;
fail:
    pathlist_free(&l);
    dicomvol_set_free(set);
    return -1;
}

void dicomvol_series_id(const dicom_set *set, int i, const char *base, char *out, size_t n)
{
    int num = set->series[i].info[0].series_number, unique = num >= 0;
    if (set->n == 1) {
        snprintf(out, n, "%s", base);
        return;
    }
    for (int k = 0; k < set->n && unique; k++)
        unique = k == i || set->series[k].info[0].series_number != num;
    if (unique)
        snprintf(out, n, "%s_s%d", base, num);
    else
        snprintf(out, n, "%s_%d", base, i + 1);
}

/* ---- geometry ---- */

static const char *base(const char *p)
{
    const char *b = strrchr(p, '/');
    return b ? b + 1 : p;
}

/* The folder of a series' first file, to name the series in messages. */
static const char *folder(const dicom_series *s, char *buf, size_t n)
{
    const char *p = s->paths[0], *b = strrchr(p, '/');
    snprintf(buf, n, "%.*s", b ? (int)(b - p) : 1, b ? p : ".");
    return buf;
}

static double dot3(const double *a, const double *b)
{
    return a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
}

/* The slices' sort key and their permutation, sorted by it. */
typedef struct {
    double d;
    int inst, k;
} slice_key;

static int cmp_key(const void *a, const void *b)
{
    const slice_key *x = a, *y = b;
    if (x->d != y->d)
        return x->d < y->d ? -1 : 1;
    if (x->inst != y->inst)
        return x->inst < y->inst ? -1 : 1;
    return x->k - y->k;
}

static int cmp_dbl(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Every slice like the first: the "mixed series" refusal. */
static int check_mixed(const dicom_series *s)
{
    const dcm_info *a = &s->info[0];
    const char *pa = base(s->paths[0]);
    char dir[4096];
    folder(s, dir, sizeof dir);
    for (int k = 0; k < s->n; k++) {
        const dcm_info *b = &s->info[k];
        const char *pb = base(s->paths[k]);
        if (!b->has_ipp || !b->has_iop || !b->has_spacing)
            return err_set("%s: no %s: its place in the volume is unknown", s->paths[k],
                           !b->has_ipp ? "ImagePositionPatient" : !b->has_iop ? "ImageOrientationPatient"
                                                                               : "PixelSpacing");
        if (b->frames != 1)
            return err_set("%s: multi-frame image (%d frames): only series of single-frame slices are read",
                           s->paths[k], b->frames);
        if (k == 0)
            continue;
        if (b->rows != a->rows || b->cols != a->cols)
            return err_set("mixed series in %s: %s has %d x %d pixels, %s %d x %d", dir, pb, b->cols, b->rows, pa,
                           a->cols, a->rows);
        if (b->bits_alloc != a->bits_alloc || b->pixel_rep != a->pixel_rep || b->samples != a->samples)
            return err_set("mixed series in %s: %s has %d-bit %s pixels, %s %d-bit %s", dir, pb, b->bits_alloc,
                           b->pixel_rep ? "signed" : "unsigned", pa, a->bits_alloc,
                           a->pixel_rep ? "signed" : "unsigned");
        for (int i = 0; i < 6; i++)
            if (fabs(b->iop[i] - a->iop[i]) > 1e-4)
                return err_set("mixed series in %s: %s and %s have different orientations (ImageOrientationPatient)",
                               dir, pb, pa);
        for (int i = 0; i < 2; i++)
            if (fabs(b->spacing[i] - a->spacing[i]) > 1e-4 * (1 + fabs(a->spacing[i])))
                return err_set("mixed series in %s: %s has pixels of %g x %g mm, %s %g x %g mm", dir, pb,
                               b->spacing[1], b->spacing[0], pa, a->spacing[1], a->spacing[0]);
        if (strcmp(b->modality, a->modality) || strcmp(b->frame_of_ref, a->frame_of_ref))
            return err_set("mixed series in %s: %s and %s differ in modality or frame of reference", dir, pb, pa);
    }
    return 0;
}

/* Put the slices of s (s->paths, s->info) in order along the normal nrm.
 * Returns the spacing between them (the median gap, > 0), or -1 + err_set:
 * a gap of a multiple of the spacing is a missing slice, any other an
 * irregular series, and a slice off the line through the first along the
 * normal a tilted or sheared one (dir names the series' folder). */
static double order_slices(dicom_series *s, const double nrm[3], const char *dir)
{
    const int n = s->n;
    slice_key *key = malloc((size_t)n * sizeof *key);
    double *gap = malloc((size_t)n * sizeof *gap);
    char **paths;
    dcm_info *info;
    double step;
    int rc = 0;

    if (!key || !gap) {
        free(key);
        free(gap);
        return err_set("out of memory");
    }
    for (int k = 0; k < n; k++)
        key[k] = (slice_key){dot3(nrm, s->info[k].ipp), s->info[k].instance_number, k};
    qsort(key, (size_t)n, sizeof *key, cmp_key);
    for (int k = 0; k + 1 < n; k++)
        gap[k] = key[k + 1].d - key[k].d;
    qsort(gap, (size_t)n - 1, sizeof *gap, cmp_dbl);
    step = gap[(n - 1) / 2]; /* the median gap: the series' spacing */
    {
        double tol = 0.01 * step + 1e-3;
        for (int k = 0; k + 1 < n && !rc; k++) {
            const char *p0 = s->paths[key[k].k], *p1 = s->paths[key[k + 1].k];
            double g = key[k + 1].d - key[k].d;
            double m = step > tol ? floor(g / step + 0.5) : 0;
            if (g < 1e-3)
                rc = err_set("duplicate slice: %s and %s are both at %.4g mm along the slice normal", p0, p1,
                             key[k].d);
            else if (!(step > tol))
                rc = err_set("duplicate slices in %s: most slices share a position", dir);
            else if (fabs(g - step) <= tol)
                continue;
            else if (m >= 2 && fabs(g - m * step) <= m * tol)
                rc = err_set("missing slice%s in %s: %.0f between %s and %s (%.4g mm apart, spacing %.4g mm)",
                             m > 2 ? "s" : "", dir, m - 1, base(p0), base(p1), g, step);
            else
                rc = err_set("irregular slice spacing in %s: %.4g mm between %s and %s, %.4g mm elsewhere", dir, g, base(p0),
                             base(p1), step);
        }
        /* every position on the line through the first along the normal */
        for (int k = 1; k < n && !rc; k++) {
            const double *p0 = s->info[key[0].k].ipp, *pk = s->info[key[k].k].ipp;
            double v[3], along, off;
            for (int i = 0; i < 3; i++)
                v[i] = pk[i] - p0[i];
            along = dot3(v, nrm);
            off = sqrt(fmax(dot3(v, v) - along * along, 0));
            if (off > 0.01 * step * k + 1e-3)
                rc = err_set("gantry tilt or sheared series in %s: %s lies %.3g mm off the slice normal of %s "
                             "(%.2f degrees; resample it with a tool that corrects tilt first)",
                             dir, base(s->paths[key[k].k]), off, base(s->paths[key[0].k]),
                             atan2(off, along) * 180 / M_PI);
        }
        if (rc)
            goto done;
    }
    /* reorder the slices */
    paths = malloc((size_t)n * sizeof *paths);
    info = malloc((size_t)n * sizeof *info);
    if (!paths || !info) {
        free(paths);
        free(info);
        rc = err_set("out of memory");
        goto done;
    }
    for (int k = 0; k < n; k++) {
        paths[k] = s->paths[key[k].k];
        info[k] = s->info[key[k].k];
    }
    free(s->paths);
    free(s->info);
    s->paths = paths;
    s->info = info;
done:
    free(key);
    free(gap);
    return rc ? -1 : step;
}

int dicomvol_geometry(dicom_series *s, double affine[16], int64_t shape[3], double spacing[3])
{
    const dcm_info *a;
    double r[3], c[3], nrm[3], step, lps[16];
    int n = s->n;
    char dir[4096];

    if (n < 1)
        return err_set("series %s has no slices", s->uid);
    if (check_mixed(s))
        return -1;
    folder(s, dir, sizeof dir);
    a = &s->info[0];
    memcpy(r, a->iop, sizeof r);
    memcpy(c, a->iop + 3, sizeof c);
    if (fabs(sqrt(dot3(r, r)) - 1) > 1e-3 || fabs(sqrt(dot3(c, c)) - 1) > 1e-3 || fabs(dot3(r, c)) > 1e-3)
        return err_set("%s: ImageOrientationPatient is not two orthogonal unit vectors", s->paths[0]);
    if (!(a->spacing[0] > 0 && a->spacing[1] > 0))
        return err_set("%s: PixelSpacing %g\\%g is not positive", s->paths[0], a->spacing[0], a->spacing[1]);
    if (n < 2)
        return err_set("%s: a series of one slice: the spacing between slices is unknown", s->paths[0]);
    nrm[0] = r[1] * c[2] - r[2] * c[1];
    nrm[1] = r[2] * c[0] - r[0] * c[2];
    nrm[2] = r[0] * c[1] - r[1] * c[0];
    {
        double len = sqrt(dot3(nrm, nrm));
        for (int i = 0; i < 3; i++)
            nrm[i] /= len;
    }

    if ((step = order_slices(s, nrm, dir)) < 0)
        return -1;
    a = &s->info[0];
    /* LPS: column i moves along r by the column spacing, row j along c by
     * the row spacing, slice k along the normal by step */
    memset(lps, 0, sizeof lps);
    for (int i = 0; i < 3; i++) {
        lps[4 * i + 0] = r[i] * a->spacing[1];
        lps[4 * i + 1] = c[i] * a->spacing[0];
        lps[4 * i + 2] = nrm[i] * step;
        lps[4 * i + 3] = a->ipp[i];
    }
    lps[15] = 1;
    memcpy(affine, lps, sizeof lps);
    for (int j = 0; j < 4; j++) {
        affine[j] = -lps[j] + 0.0; /* no -0 */
        affine[4 + j] = -lps[4 + j] + 0.0;
    }
    shape[0] = n;
    shape[1] = a->rows;
    shape[2] = a->cols;
    spacing[0] = step;
    spacing[1] = a->spacing[0];
    spacing[2] = a->spacing[1];
    return affine_check(affine);
}

int dicomvol_read(frame *f, const char *id, dicom_series *s, const char *source, size_t max_bytes)
{
    double A[16], sp[3];
    int64_t shape[3];
    tensor t;
    mval *m;
    size_t plane;
    char dir[4096];
    frame_init(f, FRAME_DATA);
    f->z = -1;
    if (id && frame_set_id(f, id))
        return -1;
    if (dicomvol_geometry(s, A, shape, sp))
        return -1;
    if (shape_numel_checked(3, shape, sizeof(float), max_bytes) < 0)
        return err_set("%s: a volume of %lld x %lld x %lld voxels is larger than the cap (--max-record)",
                       folder(s, dir, sizeof dir),
                       (long long)shape[0], (long long)shape[1], (long long)shape[2]);
    if (tensor_init(&t, DT_F32, 3, shape))
        return -1;
    plane = (size_t)shape[1] * (size_t)shape[2];
    for (int k = 0; k < s->n; k++)
        if (dcm_read_pixels(s->paths[k], &s->info[k], (float *)t.data + (size_t)k * plane)) {
            tensor_free(&t);
            return -1;
        }
    m = frame_meta(f);
    if (mval_put_f64v(m, "affine", A, 16) || mval_put_f64v(m, "spacing", sp, 3) ||
        mval_put_str(m, "source", source) || mval_put_str(m, "series_uid", s->uid)) {
        tensor_free(&t);
        return -1;
    }
    return frame_tensor_add(f, "image", &t);
}
