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
#include <dcmtk/dcmdata/dctk.h>
#include <dcmtk/dcmjpeg/djdecode.h>
#include <dcmtk/dcmjpls/djdecode.h>
#include <dcmtk/oflog/oflog.h>

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
    if (xf.isEncapsulated()) {
        /* the encapsulated fragments are checked against the file by DCMTK's reader */
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
