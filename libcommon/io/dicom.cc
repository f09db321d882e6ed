/* dicom — DCMTK behind dicom.h's C interface (see there for the contract). */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcdict.h>
#include <dcmtk/dcmdata/dcrledrg.h>
#include <dcmtk/dcmdata/dcpxitem.h>
#include <dcmtk/dcmdata/dctk.h>
#include <dcmtk/dcmjpeg/djdecode.h>
#include <dcmtk/dcmjpls/djdecode.h>
#include <dcmtk/oflog/oflog.h>
#include <openjpeg.h>

#include "io/dicom.h"
extern "C" {
#include "core/err.h"
}

static pthread_once_t dcm_once = PTHREAD_ONCE_INIT;

static void dcm_setup(void)
{
    /* DCMTK logs warnings to stderr on its own; our errors go through err_set. */
    OFLog::configure(OFLogger::OFF_LOG_LEVEL);
    DJDecoderRegistration::registerCodecs();
    DJLSDecoderRegistration::registerCodecs();
    DcmRLEDecoderRegistration::registerCodecs();
}

static int dcm_ready(void)
{
    pthread_once(&dcm_once, dcm_setup);
    if (!dcmDataDict.isDictionaryLoaded())
        return err_set("DCMTK's DICOM data dictionary is not loaded (install libdcmtk17, or set DCMDICTPATH)");
    return 0;
}

int dcm_sniff(const unsigned char *head, size_t n)
{
    return n >= 132 && !memcmp(head + 128, "DICM", 4);
}

/* The element of an attribute lrcpipe reads, if its value is small: a
 * hostile length would otherwise be allocated when the value is loaded. */
static DcmElement *small(DcmItem *ds, const DcmTagKey &key)
{
    DcmElement *el = NULL;
    if (ds->findAndGetElement(key, el).bad() || !el || el->getLength() > 1024)
        return NULL;
    return el;
}

static void get_str(DcmItem *ds, const DcmTagKey &key, char *out, size_t n)
{
    DcmElement *el = small(ds, key);
    char *s = NULL;
    out[0] = '\0';
    if (el && el->getString(s).good() && s) {
        size_t len = strnlen(s, n - 1);
        memcpy(out, s, len);
        out[len] = '\0';
        while (len > 0 && (out[len - 1] == ' ' || out[len - 1] == '\0'))
            out[--len] = '\0';
    }
}

static int get_int(DcmItem *ds, const DcmTagKey &key, int dflt)
{
    DcmElement *el = small(ds, key);
    Uint16 u;
    Sint32 s;
    /* US (Rows, BitsAllocated ...) or IS (SeriesNumber, NumberOfFrames ...) */
    if (el && el->getUint16(u).good())
        return u;
    if (el && el->getSint32(s).good())
        return s;
    return dflt;
}

/* n finite values of a DS/FD attribute; 1 if all present, else 0. */
static int get_f64v(DcmItem *ds, const DcmTagKey &key, double *v, int n)
{
    DcmElement *el = small(ds, key);
    for (int i = 0; i < n; i++) {
        Float64 x;
        if (!el || el->getFloat64(x, (unsigned long)i).bad() || !isfinite(x))
            return 0;
        v[i] = x;
    }
    return 1;
}

static void fill_info(DcmFileFormat &ff, dcm_info *info)
{
    DcmDataset *ds = ff.getDataset();
    DcmXfer xf(ds->getOriginalXfer());
    memset(info, 0, sizeof *info);
    get_str(ds, DCM_SOPClassUID, info->sop_class, sizeof info->sop_class);
    if (!info->sop_class[0])
        get_str(ff.getMetaInfo(), DCM_MediaStorageSOPClassUID, info->sop_class, sizeof info->sop_class);
    get_str(ds, DCM_SOPInstanceUID, info->sop_instance, sizeof info->sop_instance);
    get_str(ds, DCM_StudyInstanceUID, info->study_uid, sizeof info->study_uid);
    get_str(ds, DCM_SeriesInstanceUID, info->series_uid, sizeof info->series_uid);
    get_str(ds, DCM_FrameOfReferenceUID, info->frame_of_ref, sizeof info->frame_of_ref);
    snprintf(info->transfer_syntax, sizeof info->transfer_syntax, "%s", xf.getXferID());
    get_str(ds, DCM_Modality, info->modality, sizeof info->modality);
    get_str(ds, DCM_PhotometricInterpretation, info->photometric, sizeof info->photometric);
    get_str(ds, DCM_SeriesDescription, info->series_desc, sizeof info->series_desc);
    info->series_number = get_int(ds, DCM_SeriesNumber, -1);
    info->instance_number = get_int(ds, DCM_InstanceNumber, -1);
    info->rows = get_int(ds, DCM_Rows, 0);
    info->cols = get_int(ds, DCM_Columns, 0);
    info->frames = get_int(ds, DCM_NumberOfFrames, 1);
    info->samples = get_int(ds, DCM_SamplesPerPixel, 1);
    info->bits_alloc = get_int(ds, DCM_BitsAllocated, 0);
    info->bits_stored = get_int(ds, DCM_BitsStored, info->bits_alloc);
    info->high_bit = get_int(ds, DCM_HighBit, info->bits_stored - 1);
    info->pixel_rep = get_int(ds, DCM_PixelRepresentation, 0);
    info->has_pixels = ds->tagExists(DCM_PixelData);
    info->has_ipp = get_f64v(ds, DCM_ImagePositionPatient, info->ipp, 3);
    info->has_iop = get_f64v(ds, DCM_ImageOrientationPatient, info->iop, 6);
    info->has_spacing = get_f64v(ds, DCM_PixelSpacing, info->spacing, 2);
    if (!get_f64v(ds, DCM_RescaleSlope, &info->slope, 1))
        info->slope = 1;
    if (!get_f64v(ds, DCM_RescaleIntercept, &info->inter, 1))
        info->inter = 0;
    if (!get_f64v(ds, DCM_GantryDetectorTilt, &info->tilt, 1))
        info->tilt = 0;
}

/* A parsed file is DICOM if it had the Part 10 header or names an image. */
static int looks_dicom(DcmFileFormat &ff, const dcm_info *info)
{
    return ff.getMetaInfo()->card() > 0 || info->sop_class[0] || info->has_pixels;
}

/* ---- JPEG 2000 through OpenJPEG (DCMTK's free codecs have none) ---- */

typedef struct {
    const unsigned char *p;
    size_t n, at;
} membuf;

static OPJ_SIZE_T mem_read(void *out, OPJ_SIZE_T n, void *user)
{
    membuf *m = (membuf *)user;
    size_t k = m->n - m->at < n ? m->n - m->at : n;
    if (k == 0)
        return (OPJ_SIZE_T)-1;
    memcpy(out, m->p + m->at, k);
    m->at += k;
    return k;
}

static OPJ_OFF_T mem_skip(OPJ_OFF_T n, void *user)
{
    membuf *m = (membuf *)user;
    if (n < 0 || (size_t)n > m->n - m->at)
        return -1;
    m->at += (size_t)n;
    return n;
}

static OPJ_BOOL mem_seek(OPJ_OFF_T to, void *user)
{
    membuf *m = (membuf *)user;
    if (to < 0 || (size_t)to > m->n)
        return OPJ_FALSE;
    m->at = (size_t)to;
    return OPJ_TRUE;
}

static void opj_quiet(const char *msg, void *user)
{
    (void)msg, (void)user;
}

/* One frame's codestream (the fragments after the offset table, joined),
 * decoded into out with the rescale applied. */
static int decode_j2k(DcmElement *el, E_TransferSyntax xs, const dcm_info *info, float *out, size_t file_size)
{
    DcmPixelData *pd = OFstatic_cast(DcmPixelData *, el);
    DcmPixelSequence *seq = NULL;
    unsigned char *cs = NULL;
    size_t n = 0, npix = (size_t)info->rows * (size_t)info->cols;
    opj_codec_t *codec = NULL;
    opj_stream_t *st = NULL;
    opj_image_t *img = NULL;
    opj_dparameters_t par;
    membuf m;
    int rc = -1;
    if (pd->getEncapsulatedRepresentation(xs, NULL, seq).bad() || !seq)
        return err_set("JPEG 2000 pixel data without fragments");
    for (unsigned long i = 1; i < seq->card(); i++) {
        DcmPixelItem *it = NULL;
        Uint8 *b = NULL;
        Uint32 len;
        unsigned char *grown;
        if (seq->getItem(it, i).bad() || !it)
            break;
        len = it->getLength();
        if (len == DCM_UndefinedLength || (size_t)len > file_size || n + len > file_size) {
            free(cs);
            return err_set("a JPEG 2000 fragment of %lu bytes in a file of %zu", (unsigned long)len, file_size);
        }
        if (len == 0)
            continue;
        if (it->getUint8Array(b).bad() || !b || !(grown = (unsigned char *)realloc(cs, n + len))) {
            free(cs);
            return err_set("cannot read the JPEG 2000 fragments");
        }
        cs = grown;
        memcpy(cs + n, b, len);
        n += len;
    }
    if (n < 4) {
        free(cs);
        return err_set("no JPEG 2000 codestream");
    }
    m.p = cs;
    m.n = n;
    m.at = 0;
    /* a raw codestream (FF 4F FF 51) as DICOM has it, else a JP2 file */
    codec = opj_create_decompress(cs[0] == 0xff && cs[1] == 0x4f ? OPJ_CODEC_J2K : OPJ_CODEC_JP2);
    opj_set_info_handler(codec, opj_quiet, NULL);
    opj_set_warning_handler(codec, opj_quiet, NULL);
    opj_set_error_handler(codec, opj_quiet, NULL);
    opj_set_default_decoder_parameters(&par);
    st = opj_stream_default_create(OPJ_TRUE);
    if (!codec || !st || !opj_setup_decoder(codec, &par)) {
        err_set("JPEG 2000 decoder set-up failed");
        goto done;
    }
    opj_stream_set_user_data(st, &m, NULL);
    opj_stream_set_user_data_length(st, n);
    opj_stream_set_read_function(st, mem_read);
    opj_stream_set_skip_function(st, mem_skip);
    opj_stream_set_seek_function(st, mem_seek);
    if (!opj_read_header(st, codec, &img) || !img) {
        err_set("JPEG 2000 header unreadable");
        goto done;
    }
    if (img->numcomps != 1 || img->comps[0].w != (OPJ_UINT32)info->cols ||
        img->comps[0].h != (OPJ_UINT32)info->rows || img->comps[0].dx != 1 || img->comps[0].dy != 1) {
        err_set("JPEG 2000 image of %u component(s), %u x %u, where the header says 1, %d x %d", img->numcomps,
                img->numcomps ? img->comps[0].w : 0, img->numcomps ? img->comps[0].h : 0, info->cols, info->rows);
        goto done;
    }
    if (!opj_decode(codec, st, img) || !opj_end_decompress(codec, st) || !img->comps[0].data) {
        err_set("JPEG 2000 data undecodable");
        goto done;
    }
    for (size_t k = 0; k < npix; k++)
        out[k] = (float)((double)img->comps[0].data[k] * info->slope + info->inter);
    rc = 0;
done:
    if (img)
        opj_image_destroy(img);
    if (st)
        opj_stream_destroy(st);
    if (codec)
        opj_destroy_codec(codec);
    free(cs);
    return rc;
}

/* file_size: the bytes the file holds, which the pixel data cannot exceed
 * (a hostile length would otherwise be allocated before the read fails). */
static int decode(DcmFileFormat &ff, const dcm_info *info, float *out, size_t file_size)
{
    DcmDataset *ds = ff.getDataset();
    DcmXfer xf(ds->getOriginalXfer());
    DcmElement *el = NULL;
    size_t npix = (size_t)info->rows * (size_t)info->cols;
    int bytes;

    if (!info->has_pixels)
        return err_set("no pixel data (not an image: SOP class %s)", info->sop_class[0] ? info->sop_class : "none");
    if (info->frames != 1)
        return err_set("multi-frame image (%d frames): only single-frame slices are read", info->frames);
    if (info->samples != 1 || (strcmp(info->photometric, "MONOCHROME2") && strcmp(info->photometric, "MONOCHROME1") &&
                               info->photometric[0]))
        return err_set("not a grayscale image (%d samples, %s)", info->samples, info->photometric);
    if (info->rows < 1 || info->cols < 1)
        return err_set("image of %d x %d pixels", info->rows, info->cols);
    if (!(info->bits_alloc == 8 || info->bits_alloc == 16))
        return err_set("%d bits allocated per pixel (8 or 16 are read)", info->bits_alloc);
    if (info->bits_stored < 1 || info->bits_stored > info->bits_alloc || info->high_bit >= info->bits_alloc ||
        info->high_bit + 1 < info->bits_stored)
        return err_set("inconsistent bit layout (allocated %d, stored %d, high bit %d)", info->bits_alloc,
                       info->bits_stored, info->high_bit);
    if (!isfinite(info->slope) || !isfinite(info->inter) || info->slope == 0)
        return err_set("rescale slope %g, intercept %g", info->slope, info->inter);
    if (xf.getXfer() == EXS_JPEG2000LosslessOnly || xf.getXfer() == EXS_JPEG2000) {
        if (ds->findAndGetElement(DCM_PixelData, el).bad() || !el)
            return err_set("no pixel data");
        return decode_j2k(el, xf.getXfer(), info, out, file_size);
    }
    if (xf.isEncapsulated()) {
        if (ds->chooseRepresentation(EXS_LittleEndianExplicit, NULL).bad() ||
            !ds->canWriteXfer(EXS_LittleEndianExplicit))
            return err_set("cannot decode pixel data in transfer syntax %s (%s)", xf.getXferName(), xf.getXferID());
    }
    if (ds->findAndGetElement(DCM_PixelData, el).bad() || !el)
        return err_set("no pixel data");
    bytes = info->bits_alloc / 8;
    {
        Uint32 len = el->getLength();
        if (!xf.isEncapsulated() && len != DCM_UndefinedLength && (size_t)len > file_size)
            return err_set("pixel data of %lu bytes in a file of %zu", (unsigned long)len, file_size);
        if (len == DCM_UndefinedLength || (size_t)len / (size_t)bytes < npix)
            return err_set("pixel data holds %lu bytes, %d x %d pixels of %d bits need %zu", (unsigned long)len,
                           info->rows, info->cols, info->bits_alloc, npix * (size_t)bytes);
    }
    {
        Uint16 *w = NULL;
        Uint8 *b = NULL;
        int shift = info->high_bit + 1 - info->bits_stored;
        uint32_t mask = info->bits_stored >= 32 ? 0xffffffffu : (1u << info->bits_stored) - 1;
        uint32_t sign = 1u << (info->bits_stored - 1);
        if (bytes == 2 && el->getUint16Array(w).good() && w) {
            b = NULL;
        } else if (el->getUint8Array(b).bad() || !b) {
            return err_set("cannot read the pixel data");
        }
        for (size_t k = 0; k < npix; k++) {
            uint32_t raw = w ? w[k] : bytes == 2 ? (uint32_t)b[2 * k] | (uint32_t)b[2 * k + 1] << 8 : b[k];
            uint32_t u = (raw >> shift) & mask;
            double v = info->pixel_rep && (u & sign) ? (double)u - (double)mask - 1 : (double)u;
            out[k] = (float)(v * info->slope + info->inter);
        }
    }
    return 0;
}

static int read_file(DcmFileFormat &ff, const char *path, Uint32 max_read)
{
    OFCondition c = ff.loadFile(path, EXS_Unknown, EGL_noChange, max_read, ERM_autoDetect);
    if (c.bad())
        return err_set("%s", c.text());
    return 0;
}

static int is_part10(const char *path)
{
    unsigned char head[132];
    FILE *fp = fopen(path, "rb");
    size_t n;
    if (!fp)
        return 0;
    n = fread(head, 1, sizeof head, fp);
    fclose(fp);
    return dcm_sniff(head, n);
}

int dcm_read_info(const char *path, dcm_info *info)
{
    DcmFileFormat ff;
    FILE *fp;
    if (dcm_ready())
        return -1;
    if (!(fp = fopen(path, "rb")))
        return err_set("%s:", path);
    fclose(fp);
    /* the pixel data stays in the file (loaded on demand) */
    if (read_file(ff, path, 4096)) {
        if (is_part10(path))
            return err_prefix("%s: unreadable DICOM file", path);
        err_clear();
        return 0;
    }
    fill_info(ff, info);
    return looks_dicom(ff, info) ? 1 : 0;
}

static size_t file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) ? 0 : (size_t)st.st_size;
}

int dcm_read_pixels(const char *path, const dcm_info *info, float *out)
{
    DcmFileFormat ff;
    dcm_info now;
    if (dcm_ready())
        return -1;
    if (read_file(ff, path, DCM_MaxReadLength))
        return err_prefix("%s: unreadable DICOM file", path);
    fill_info(ff, &now);
    if (now.rows != info->rows || now.cols != info->cols || now.bits_alloc != info->bits_alloc)
        return err_set("%s: changed while it was read", path);
    if (decode(ff, &now, out, file_size(path)))
        return err_prefix("%s", path);
    return 0;
}

int dcm_read_mem(const void *buf, size_t n, dcm_info *info, float *out, size_t max_pixels)
{
    /* through a memory file, so that DCMTK reads it as it reads files:
     * values larger than 4 KB stay unread until asked for */
    DcmFileFormat ff;
    char path[64];
    int fd, rc = 1;
    if (dcm_ready())
        return -1;
    if ((fd = memfd_create("dicom", MFD_CLOEXEC)) < 0)
        return err_set("memfd_create:");
    for (size_t done = 0; done < n;) {
        ssize_t w = write(fd, (const char *)buf + done, n - done);
        if (w <= 0) {
            close(fd);
            return err_set("memfd write:");
        }
        done += (size_t)w;
    }
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    if (read_file(ff, path, 4096)) {
        rc = dcm_sniff((const unsigned char *)buf, n) ? err_prefix("unreadable DICOM data") : 0;
        if (!rc)
            err_clear();
    } else {
        fill_info(ff, info);
        if (!looks_dicom(ff, info))
            rc = 0;
        else if (out && (size_t)info->rows * (size_t)info->cols > max_pixels)
            rc = err_set("image of %d x %d pixels is larger than the cap", info->rows, info->cols);
        else if (out && decode(ff, info, out, n))
            rc = -1;
    }
    close(fd);
    return rc;
}
