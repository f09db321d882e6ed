#include "io/nii.h"

#include <math.h>
#include <nifti2_io.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "core/err.h"
#include "core/tmpfile.h"
#include "io/frame.h"

void nii_affine_spacing(const double a[16], double spacing[3])
{
    for (int c = 0; c < 3; c++) {
        double s = sqrt(a[0 * 4 + c] * a[0 * 4 + c] + a[1 * 4 + c] * a[1 * 4 + c] + a[2 * 4 + c] * a[2 * 4 + c]);
        spacing[2 - c] = s;
    }
}

/* Read the whole (possibly gzipped) file; checks zlib's CRC at the end.
 * Buffers start at the file's size (zlib's at most 128 KiB), so that a small
 * file costs small allocations and a large one few reallocations. */
static int slurp(const char *path, char **out, size_t *outlen)
{
    struct stat st;
    size_t fsize = stat(path, &st) == 0 && st.st_size > 0 ? (size_t)st.st_size : 0;
    gzFile gz = gzopen(path, "rb");
    char *buf = NULL;
    size_t len = 0, cap = 0;
    size_t maxlen = frame_default_limits.max_record;
    int errnum;
    if (!gz)
        return err_set("%s:", path);
    gzbuffer(gz, fsize < 8192 ? 8192 : fsize > (1u << 17) ? (1u << 17) : (unsigned)fsize);
    for (;;) {
        int n;
        if (cap - len < (cap < (1u << 18) ? 1 : (1u << 16))) {
            size_t ncap = cap ? cap * 2 : fsize + 4096;
            char *nb;
            if (ncap > maxlen + (1u << 20))
                ncap = maxlen + (1u << 20);
            if (ncap <= cap) {
                free(buf);
                gzclose(gz);
                return err_set("%s: larger than the cap of %zu bytes (LRCPIPE_MAX_RECORD)", path, maxlen);
            }
            if (!(nb = realloc(buf, ncap))) {
                free(buf);
                gzclose(gz);
                return err_set("%s: out of memory", path);
            }
            buf = nb;
            cap = ncap;
        }
        n = gzread(gz, buf + len, (unsigned)((cap - len) > (1u << 30) ? (1u << 30) : (cap - len)));
        /* (gzread fills as much as it can; a short read is not an error) */
        if (n < 0) {
            const char *msg = gzerror(gz, &errnum);
            err_set("%s: corrupt or truncated gzip data (%s)", path, msg);
            free(buf);
            gzclose(gz);
            return -1;
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    gzerror(gz, &errnum);
    if (errnum != Z_OK && errnum != Z_STREAM_END) {
        err_set("%s: corrupt or truncated gzip data (%s)", path, gzerror(gz, &errnum));
        free(buf);
        gzclose(gz);
        return -1;
    }
    if (gzclose(gz) != Z_OK) {
        free(buf);
        return err_set("%s: corrupt or truncated gzip data", path);
    }
    *out = buf;
    *outlen = len;
    return 0;
}

static uint32_t bswap32(uint32_t v)
{
    return (v >> 24) | ((v >> 8) & 0xff00) | ((v << 8) & 0xff0000) | (v << 24);
}

static int map_dtype(int nt, dtype *dt, int *widen);

/* The checks libnifti's nifti_convert_n{1,2}hdr2nim make before it prints
 * "** ERROR: ..." to stderr whatever its debug level: made here first, on
 * the datatype and dim[1] in host byte order, so that an error stays one line. */
static int nifti_pre_check(const char *path, int nt, int64_t dim1)
{
    dtype dt;
    int widen;
    if (map_dtype(nt, &dt, &widen))
        return err_set("%s: unsupported NIfTI datatype %d (%s)", path, nt, nifti_datatype_string(nt));
    if (dim1 <= 0)
        return err_set("%s: invalid NIfTI header (dim[1] = %lld)", path, (long long)dim1);
    return 0;
}

static int map_dtype(int nt, dtype *dt, int *widen)
{
    *widen = 0;
    switch (nt) {
    case NIFTI_TYPE_UINT8: *dt = DT_U8; return 0;
    case NIFTI_TYPE_INT8: *dt = DT_I8; return 0;
    case NIFTI_TYPE_INT16: *dt = DT_I16; return 0;
    case NIFTI_TYPE_INT32: *dt = DT_I32; return 0;
    case NIFTI_TYPE_INT64: *dt = DT_I64; return 0;
    case NIFTI_TYPE_FLOAT32: *dt = DT_F32; return 0;
    case NIFTI_TYPE_FLOAT64: *dt = DT_F64; return 0;
    case NIFTI_TYPE_UINT16: *dt = DT_I32; *widen = 1; return 0;
    case NIFTI_TYPE_UINT32: *dt = DT_I64; *widen = 1; return 0;
    case NIFTI_TYPE_UINT64: *dt = DT_F64; *widen = 1; return 0;
    default: return -1;
    }
}

/* Value i of raw data of NIfTI type nt (already in host byte order). The
 * data start at vox_offset, which a file may set to any byte: read through
 * memcpy, never through a possibly misaligned typed pointer (found by
 * fuzz_nifti under UBSan). */
#define RAW_AT(T) (memcpy(&v.T##_, (const char *)p + i * sizeof v.T##_, sizeof v.T##_), v.T##_)
static double raw_get(const void *p, int nt, size_t i)
{
    union {
        uint8_t u8_;
        int8_t i8_;
        int16_t i16_;
        uint16_t u16_;
        int32_t i32_;
        uint32_t u32_;
        int64_t i64_;
        uint64_t u64_;
        float f32_;
        double f64_;
    } v;
    switch (nt) {
    case NIFTI_TYPE_UINT8: return RAW_AT(u8);
    case NIFTI_TYPE_INT8: return RAW_AT(i8);
    case NIFTI_TYPE_INT16: return RAW_AT(i16);
    case NIFTI_TYPE_UINT16: return RAW_AT(u16);
    case NIFTI_TYPE_INT32: return RAW_AT(i32);
    case NIFTI_TYPE_UINT32: return RAW_AT(u32);
    case NIFTI_TYPE_INT64: return (double)RAW_AT(i64);
    case NIFTI_TYPE_UINT64: return (double)RAW_AT(u64);
    case NIFTI_TYPE_FLOAT32: return RAW_AT(f32);
    case NIFTI_TYPE_FLOAT64: return RAW_AT(f64);
    default: return 0;
    }
}
#undef RAW_AT

/* pixdim[1..3] of a raw header (swapped when the file's byte order differs).
 * When the sform does not define the grid (sform_code <= 0), the qform or the
 * pixdims themselves do, and a zero or negative spacing is an error (nibabel
 * refuses it too); otherwise they are irrelevant and are made positive so
 * that libnifti does not print warnings of its own. */
static int check_pixdim(const char *path, int sform_code, double pd[3])
{
    for (int i = 0; i < 3; i++) {
        if (sform_code <= 0 && !(pd[i] > 0 && isfinite(pd[i])))
            return err_set("%s: voxel spacing pixdim[%d] is %g (zero or negative) and no sform overrides it", path,
                           i + 1, pd[i]);
        if (!(pd[i] > 0 && isfinite(pd[i])))
            pd[i] = (isfinite(pd[i]) && pd[i] != 0) ? fabs(pd[i]) : 1;
    }
    return 0;
}

static float swapf(float f, int swap)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    if (swap)
        u = bswap32(u);
    memcpy(&f, &u, 4);
    return f;
}

static double swapd(double d, int swap)
{
    uint64_t u;
    memcpy(&u, &d, 8);
    if (swap)
        u = ((uint64_t)bswap32((uint32_t)u) << 32) | bswap32((uint32_t)(u >> 32));
    memcpy(&d, &u, 8);
    return d;
}

static int16_t swaps(int16_t v, int swap)
{
    uint16_t u = (uint16_t)v;
    return swap ? (int16_t)((u >> 8) | (u << 8)) : v;
}

static int32_t swapi(int32_t v, int swap)
{
    return swap ? (int32_t)bswap32((uint32_t)v) : v;
}

void nii_free(nii_image *img)
{
    tensor_free(&img->data);
}

int nii_read(const char *path, nii_image *img, int mode)
{
    char *buf = NULL;
    size_t len = 0;
    nifti_image *nim = NULL;
    int32_t sz;
    int version, nbyper, swapsize, widen;
    dtype dt;
    int64_t shape[3];
    size_t nvox, offset, nbytes;
    const char *data;
    int scaled;
    memset(img, 0, sizeof *img);
    if (slurp(path, &buf, &len))
        return -1;
    if (len < 348) {
        free(buf);
        return err_set("%s: not a NIfTI file (only %zu bytes)", path, len);
    }
    memcpy(&sz, buf, 4);
    if (sz == 348 || bswap32((uint32_t)sz) == 348)
        version = 1;
    else if (sz == 540 || bswap32((uint32_t)sz) == 540)
        version = 2;
    else {
        free(buf);
        return err_set("%s: not a NIfTI file (header size field is %d)", path, sz);
    }
    if (version == 1) {
        nifti_1_header h;
        memcpy(&h, buf, sizeof h);
        if (memcmp(h.magic, "n+1", 4)) {
            free(buf);
            return err_set("%s: not a single-file NIfTI-1 image (magic '%.3s'; .hdr/.img pairs are not supported)",
                           path, h.magic);
        }
        {
            int swap = sz != 348;
            double pd[3];
            /* libnifti decides byte order from dim[0] and then trusts it as
             * the loop bound over dim[1..]: out of 0..7 it writes past its
             * own stack (found by fuzz_nifti) */
            int16_t d0 = h.dim[0];
            if (d0 < 0 || d0 > 7)
                d0 = (int16_t)__builtin_bswap16((uint16_t)d0);
            if (d0 < 0 || d0 > 7) {
                free(buf);
                return err_set("%s: invalid NIfTI header (dim[0] = %d, not 0..7)", path, (int)h.dim[0]);
            }
            /* what libnifti would refuse with its own message on stderr, in
             * the byte order it will use: dim[0]'s, or sizeof_hdr's when
             * dim[0] is 0 (its need_nhdr_swap) */
            int hswap = h.dim[0] != 0 ? d0 != h.dim[0] : sz != 348;
            for (int i = 0; i < 3; i++)
                pd[i] = swapf(h.pixdim[i + 1], swap);
            if (nifti_pre_check(path, swaps(h.datatype, hswap), swaps(h.dim[1], hswap)) ||
                check_pixdim(path, swaps(h.sform_code, swap), pd)) {
                free(buf);
                return -1;
            }
            for (int i = 0; i < 3; i++)
                h.pixdim[i + 1] = swapf((float)pd[i], swap);
        }
        nifti_set_debug_level(0);
        nim = nifti_convert_n1hdr2nim(h, path);
    } else {
        nifti_2_header h;
        if (len < sizeof h) {
            free(buf);
            return err_set("%s: truncated NIfTI-2 header", path);
        }
        memcpy(&h, buf, sizeof h);
        if (memcmp(h.magic, "n+2", 4)) {
            free(buf);
            return err_set("%s: not a single-file NIfTI-2 image", path);
        }
        {
            int swap = sz != 540;
            double pd[3];
            /* libnifti loops over dim[1..dim[0]] of its stack copy (see above) */
            int64_t d0 = swap ? (int64_t)__builtin_bswap64((uint64_t)h.dim[0]) : h.dim[0];
            if (d0 < 0 || d0 > 7) {
                free(buf);
                return err_set("%s: invalid NIfTI-2 header (dim[0] = %lld, not 0..7)", path, (long long)d0);
            }
            for (int i = 0; i < 3; i++)
                pd[i] = swapd(h.pixdim[i + 1], swap);
            if (nifti_pre_check(path, swaps(h.datatype, swap),
                                swap ? (int64_t)__builtin_bswap64((uint64_t)h.dim[1]) : h.dim[1]) ||
                check_pixdim(path, swapi(h.sform_code, swap), pd)) {
                free(buf);
                return -1;
            }
            for (int i = 0; i < 3; i++)
                h.pixdim[i + 1] = swapd(pd[i], swap);
        }
        nifti_set_debug_level(0);
        nim = nifti_convert_n2hdr2nim(h, path);
    }
    if (!nim) {
        free(buf);
        return err_set("%s: invalid NIfTI header", path);
    }
    if (nim->ndim < 3 || nim->nx < 1 || nim->ny < 1 || nim->nz < 1) {
        err_set("%s: a %lld-D image; lrcpipe reads 3-D volumes", path, (long long)nim->ndim);
        goto fail;
    }
    for (int d = 4; d <= nim->ndim && d < 8; d++)
        if (nim->dim[d] > 1) {
            err_set("%s: a %lld-D image (dimension %d has %lld entries); lrcpipe reads 3-D volumes", path,
                    (long long)nim->ndim, d, (long long)nim->dim[d]);
            goto fail;
        }
    if (map_dtype(nim->datatype, &dt, &widen)) {
        err_set("%s: unsupported NIfTI datatype %d (%s)", path, nim->datatype, nifti_datatype_string(nim->datatype));
        goto fail;
    }
    nifti_datatype_sizes(nim->datatype, &nbyper, &swapsize);
    shape[0] = nim->nz;
    shape[1] = nim->ny;
    shape[2] = nim->nx;
    if (shape_numel_checked(3, shape, (size_t)nbyper, frame_default_limits.max_record) < 0) {
        err_prefix("%s", path);
        goto fail;
    }
    nvox = (size_t)(shape[0] * shape[1] * shape[2]);
    offset = nim->iname_offset;
    nbytes = nvox * (size_t)nbyper;
    if (offset < (size_t)sz || offset > len || len - offset < nbytes) {
        err_set("%s: truncated image data (%zu bytes after the header, %zu needed)", path,
                offset <= len ? len - offset : 0, nbytes);
        goto fail;
    }
    data = buf + offset;
    if (nim->byteorder != nifti_short_order() && swapsize > 1)
        nifti_swap_Nbytes((int64_t)nvox, swapsize, buf + offset);

    img->slope = nim->scl_slope;
    img->inter = nim->scl_inter;
    scaled = isfinite(img->slope) && img->slope != 0 && !(img->slope == 1 && img->inter == 0);
    if (!isfinite(img->slope) || img->slope == 0)
        img->slope = 1, img->inter = 0;
    if (mode == NII_F32 || scaled) {
        float *o;
        if (tensor_init(&img->data, DT_F32, 3, shape))
            goto fail;
        o = img->data.data;
        for (size_t i = 0; i < nvox; i++)
            o[i] = (float)(raw_get(data, nim->datatype, i) * img->slope + img->inter);
    } else if (!widen) {
        if (tensor_init(&img->data, dt, 3, shape))
            goto fail;
        memcpy(img->data.data, data, nbytes);
    } else {
        if (tensor_init(&img->data, dt, 3, shape))
            goto fail;
        for (size_t i = 0; i < nvox; i++)
            tensor_set(&img->data, i, raw_get(data, nim->datatype, i));
    }
    img->sform_code = nim->sform_code;
    img->qform_code = nim->qform_code;
    img->nifti_version = version;
    for (int r = 0; r < 4; r++)
        for (int c = 0; c < 4; c++) {
            double v;
            if (nim->sform_code > 0)
                v = nim->sto_xyz.m[r][c];
            else if (nim->qform_code > 0)
                v = nim->qto_xyz.m[r][c];
            else
                v = (r == c) ? (r < 3 ? (r == 0 ? nim->dx : r == 1 ? nim->dy : nim->dz) : 1.0) : 0.0;
            img->affine[r * 4 + c] = v;
        }
    nii_affine_spacing(img->affine, img->spacing);
    for (int i = 0; i < 3; i++)
        if (!(img->spacing[i] > 0) || !isfinite(img->spacing[i])) {
            err_set("%s: voxel spacing %g along axis %d is not positive", path, img->spacing[i], i);
            tensor_free(&img->data);
            goto fail;
        }
    nifti_image_free(nim);
    free(buf);
    return 0;
fail:
    nifti_image_free(nim);
    free(buf);
    return -1;
}

static int nifti_code(dtype dt, int *bitpix)
{
    switch (dt) {
    case DT_U8: *bitpix = 8; return NIFTI_TYPE_UINT8;
    case DT_I8: *bitpix = 8; return NIFTI_TYPE_INT8;
    case DT_I16: *bitpix = 16; return NIFTI_TYPE_INT16;
    case DT_I32: *bitpix = 32; return NIFTI_TYPE_INT32;
    case DT_I64: *bitpix = 64; return NIFTI_TYPE_INT64;
    case DT_F32: *bitpix = 32; return NIFTI_TYPE_FLOAT32;
    case DT_F64: *bitpix = 64; return NIFTI_TYPE_FLOAT64;
    default: return -1;
    }
}

int nii_write(const char *path, const tensor *t, const double affine[16])
{
    nifti_1_header h;
    nifti_dmat44 R;
    double qb, qc, qd, qx, qy, qz, dx, dy, dz, qfac, sp[3];
    int bitpix, code, gz;
    size_t plen = strlen(path);
    tmpfile_t *tf;
    char ext[4] = {0, 0, 0, 0};
    if (t->rank != 3)
        return err_set("%s: NIfTI output takes a [Z,Y,X] volume, not rank %d", path, t->rank);
    if ((code = nifti_code(t->dtype, &bitpix)) < 0)
        return err_set("%s: dtype %s cannot be written as NIfTI", path, dtype_name(t->dtype));
    for (int i = 0; i < 3; i++)
        if (t->shape[i] > 32767)
            return err_set("%s: dimension %lld too large for NIfTI-1", path, (long long)t->shape[i]);
    memset(&h, 0, sizeof h);
    h.sizeof_hdr = 348;
    h.dim[0] = 3;
    h.dim[1] = (short)t->shape[2];
    h.dim[2] = (short)t->shape[1];
    h.dim[3] = (short)t->shape[0];
    for (int i = 4; i < 8; i++)
        h.dim[i] = 1;
    h.datatype = (short)code;
    h.bitpix = (short)bitpix;
    for (int r = 0; r < 4; r++)
        for (int c = 0; c < 4; c++)
            R.m[r][c] = affine[r * 4 + c];
    nifti_dmat44_to_quatern(R, &qb, &qc, &qd, &qx, &qy, &qz, &dx, &dy, &dz, &qfac);
    nii_affine_spacing(affine, sp);
    h.pixdim[0] = (float)qfac;
    h.pixdim[1] = (float)sp[2];
    h.pixdim[2] = (float)sp[1];
    h.pixdim[3] = (float)sp[0];
    for (int i = 4; i < 8; i++)
        h.pixdim[i] = 1;
    h.vox_offset = 352;
    h.scl_slope = 1;
    h.scl_inter = 0;
    h.xyzt_units = NIFTI_UNITS_MM;
    h.qform_code = NIFTI_XFORM_SCANNER_ANAT;
    h.sform_code = NIFTI_XFORM_SCANNER_ANAT;
    h.quatern_b = (float)qb;
    h.quatern_c = (float)qc;
    h.quatern_d = (float)qd;
    h.qoffset_x = (float)qx;
    h.qoffset_y = (float)qy;
    h.qoffset_z = (float)qz;
    for (int c = 0; c < 4; c++) {
        h.srow_x[c] = (float)affine[0 * 4 + c];
        h.srow_y[c] = (float)affine[1 * 4 + c];
        h.srow_z[c] = (float)affine[2 * 4 + c];
    }
    snprintf(h.descrip, sizeof h.descrip, "lrcpipe");
    memcpy(h.magic, "n+1", 4);

    gz = plen > 3 && !strcmp(path + plen - 3, ".gz");
    if (!(tf = tmpfile_open(path)))
        return -1;
    size_t nbytes = tensor_nbytes(t);
    const char *p = t->data;
    int ok = 1;
    if (gz) {
        int fd2 = dup(tmpfile_fd(tf));
        gzFile g = fd2 >= 0 ? gzdopen(fd2, "wb6") : NULL;
        if (!g) {
            if (fd2 >= 0)
                close(fd2);
            ok = 0;
        } else {
            ok = gzwrite(g, &h, sizeof h) == (int)sizeof h && gzwrite(g, ext, 4) == 4;
            while (ok && nbytes) {
                unsigned chunk = nbytes > (1u << 30) ? (1u << 30) : (unsigned)nbytes;
                ok = gzwrite(g, p, chunk) == (int)chunk;
                p += chunk;
                nbytes -= chunk;
            }
            if (gzclose(g) != Z_OK)
                ok = 0;
        }
    } else {
        FILE *f = fdopen(dup(tmpfile_fd(tf)), "wb");
        ok = f && fwrite(&h, sizeof h, 1, f) == 1 && fwrite(ext, 4, 1, f) == 1 &&
             (nbytes == 0 || fwrite(p, nbytes, 1, f) == 1);
        if (f && fclose(f))
            ok = 0;
    }
    return tmpfile_finish(tf, ok, path, 0);
}
