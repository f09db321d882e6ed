#include "io/sniff.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <zlib.h>

#include "io/dicom.h"

int sniff_is_frame_start(const unsigned char *head, size_t n)
{
    return n > 0 && ((head[0] >= 0x80 && head[0] <= 0x8f) || head[0] == 0xde || head[0] == 0xdf);
}

static uint32_t le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t le64(const unsigned char *p)
{
    return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

/* 1 or 2 for a NIfTI-1/2 header (either byte order), else 0 */
static int nifti_version(const unsigned char *p, size_t n)
{
    if (n >= 348 && (le32(p) == 348 || le32(p) == 0x5c010000u) &&
        (!memcmp(p + 344, "n+1", 4) || !memcmp(p + 344, "ni1", 4)))
        return 1;
    if (n >= 12 && (le32(p) == 540 || le32(p) == 0x1c020000u) &&
        (!memcmp(p + 4, "n+2", 4) || !memcmp(p + 4, "ni2", 4)))
        return 2;
    return 0;
}

/* the first bytes of gzip data, inflated */
static size_t gunzip_head(const unsigned char *p, size_t n, unsigned char *out, size_t on)
{
    z_stream z;
    size_t got;
    memset(&z, 0, sizeof z);
    if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK)
        return 0;
    z.next_in = (unsigned char *)p;
    z.avail_in = (uInt)n;
    z.next_out = out;
    z.avail_out = (uInt)on;
    inflate(&z, Z_SYNC_FLUSH);
    got = on - z.avail_out;
    inflateEnd(&z);
    return got;
}

int sniff_describe(const unsigned char *head, size_t n, char *out, size_t on)
{
    int v;
    if ((v = nifti_version(head, n))) {
        snprintf(out, on, "a NIfTI-%d image, not a frame stream: ct-resample reads it (or frame-cat --from-nifti)", v);
        return 1;
    }
    if (n >= 2 && head[0] == 0x1f && head[1] == 0x8b) {
        unsigned char in[600];
        size_t m = gunzip_head(head, n, in, sizeof in);
        if ((v = nifti_version(in, m)))
            snprintf(out, on,
                     "a gzip-compressed NIfTI-%d image (.nii.gz), not a frame stream: ct-resample reads it "
                     "(or frame-cat --from-nifti)",
                     v);
        else
            snprintf(out, on, "gzip-compressed data, not a frame stream (frames are not compressed: gunzip it)");
        return 1;
    }
    if (dcm_sniff(head, n)) {
        snprintf(out, on,
                 "a DICOM file, not a frame stream: ct-resample reads its series (give the folder; or frame-cat "
                 "--from-dicom)");
        return 1;
    }
    if (n >= 6 && !memcmp(head, "\x93NUMPY", 6)) {
        snprintf(out, on, "a NumPy .npy file, not a frame stream: frame-cat --from-npy makes a frame of it");
        return 1;
    }
    if (n >= 8 && !memcmp(head, "\x89PNG\r\n\x1a\n", 8)) {
        snprintf(out, on, "a PNG picture, not a frame stream (frame-view writes these)");
        return 1;
    }
    if (n >= 10) {
        uint64_t hl = le64(head);
        if (hl >= 2 && hl < (100u << 20) && head[8] == '{' && (head[9] == '"' || head[9] == '}')) {
            snprintf(out, on,
                     "a safetensors checkpoint, not a frame stream: lrc-train (--resume, --embed) and "
                     "seg-finetune (--global, --local, --predict) read checkpoints");
            return 1;
        }
    }
    if (n >= 1 && (head[0] == '{' || head[0] == '[')) {
        snprintf(out, on, "JSON text, not a frame stream (a metrics log? frame-view --curve reads those)");
        return 1;
    }
    {
        size_t printable = 0, k = n < 256 ? n : 256;
        for (size_t i = 0; i < k; i++)
            printable += (head[i] >= 0x20 && head[i] < 0x7f) || head[i] == '\n' || head[i] == '\r' ||
                         head[i] == '\t';
        if (k >= 4 && printable == k) {
            snprintf(out, on, "text, not a frame stream (a case list? ct-resample --manifest reads those)");
            return 1;
        }
    }
    return 0;
}
