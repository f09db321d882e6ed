"""Small DICOM CT series and the NIfTI of the same volume, for test_dicom.

The DICOM files are written with pydicom (not with the library lrcpipe
reads them with), from a crop of a real CT of the bundled sample; the NIfTI
file holds the same voxels with the affine the DICOM geometry defines
(LPS -> RAS: x and y negated), written with nibabel.

  dicom_series.py --sample SAMPLE OUT
writes OUT/IM0001.dcm ...: slices 56 to 71 of the sample's subj03 CT as a
DICOM CT series the way scanners store it (rows towards posterior, columns
towards the patient's left, slices towards superior), RLE Lossless; this is
data/sample/dicom/subj03.

  dicom_series.py SAMPLE OUT
writes under OUT:
  axial/       standard axial series, slices in increasing z, stored as
               unsigned with RescaleIntercept -1024; axial.nii.gz
  flipped/     rows towards the patient's right, columns towards anterior,
               slices written feet first with shuffled file names and
               instance numbers decreasing with z; signed int16; flipped.nii.gz
  coronal/     a coronal stack (normal towards posterior); coronal.nii.gz
  rle/         the axial series in RLE Lossless (a compressed syntax)
  j2k/         the axial series in JPEG 2000 Lossless (codestreams made by
               OpenJPEG's opj_compress from 16-bit PGM files)
  multi/       two series (SeriesNumber 3 and 7) in two sub-folders, plus a
               text file and a DICOMDIR-like object without pixels
  mixed/       one slice with fewer columns
  tilt/        positions drifting 15 degrees across the slice plane
  missing/     the middle slice removed
  duplicate/   one slice stored twice (two instance UIDs, one position)
"""
import os
import random
import subprocess
import sys
import tempfile

import nibabel as nib
import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileDataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.uid import JPEG2000Lossless, ExplicitVRLittleEndian, RLELossless, generate_uid

CT_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
FRAME_OF_REF = {}


def crop(sample):
    img = nib.load(os.path.join(sample, "subj03_ct.nii.gz"))
    v = np.asarray(img.dataobj)  # x, y, z (RAS)
    return np.ascontiguousarray(v[40:72, 50:74, 60:70]).astype(np.int16)  # 32 x 24 x 10


def fmt(x):
    return "%.6f" % x


def j2k(stored):
    """a lossless JPEG 2000 codestream of a uint16 image, by opj_compress"""
    with tempfile.TemporaryDirectory() as d:
        pgm, out = os.path.join(d, "x.pgm"), os.path.join(d, "x.j2k")
        with open(pgm, "wb") as f:
            f.write(b"P5\n%d %d\n65535\n" % (stored.shape[1], stored.shape[0]))
            f.write(stored.astype(">u2").tobytes())
        subprocess.run(["opj_compress", "-n", "3", "-i", pgm, "-o", out], check=True, stdout=subprocess.DEVNULL)
        return open(out, "rb").read()


def write_slice(path, pix, ipp, iop, spacing, series_uid, study_uid, number, inst, signed=True, rle=False,
                jpeg2000=False):
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CT_STORAGE
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(path, {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID = CT_STORAGE
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = series_uid
    ds.FrameOfReferenceUID = FRAME_OF_REF.setdefault(study_uid, generate_uid())
    ds.Modality = "CT"
    ds.PatientName = "Test^Phantom"
    ds.PatientID = "lrcpipe"
    ds.SeriesNumber = number
    ds.InstanceNumber = inst
    ds.ImagePositionPatient = [fmt(x) for x in ipp]
    ds.ImageOrientationPatient = [fmt(x) for x in iop]
    ds.PixelSpacing = [fmt(spacing[0]), fmt(spacing[1])]
    ds.SliceThickness = "9.9"  # deliberately wrong: the spacing comes from the positions
    ds.Rows, ds.Columns = pix.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 16
    ds.BitsStored = 16 if signed else 12
    ds.HighBit = ds.BitsStored - 1
    if signed:
        ds.PixelRepresentation = 1
        ds.RescaleIntercept = "0"
        stored = pix.astype("<i2")
    else:
        ds.PixelRepresentation = 0
        ds.RescaleIntercept = "-1024"
        stored = (pix.astype(np.int32) + 1024).clip(0, 4095).astype("<u2")
    ds.RescaleSlope = "1"
    ds.is_little_endian = True
    ds.is_implicit_VR = False
    ds.PixelData = stored.tobytes()
    if rle:
        ds.compress(RLELossless, stored)
    if jpeg2000:
        ds.file_meta.TransferSyntaxUID = JPEG2000Lossless
        ds.PixelData = encapsulate([j2k(stored)])
        ds["PixelData"].is_undefined_length = True
        ds["PixelData"].VR = "OB"
    ds.save_as(path, write_like_original=False)


def series(out, name, vol, lps, order=None, names=None, signed=True, rle=False, number=1,
           study=None, edit=None, jpeg2000=False):
    """vol [x, y, z] in DICOM order (x = column, y = row, z = slice);
    lps the 4x4 voxel -> LPS affine. Writes one file per slice."""
    d = os.path.join(out, name)
    os.makedirs(d, exist_ok=True)
    uid = generate_uid()
    study = study or generate_uid()
    col0, col1 = lps[:3, 0], lps[:3, 1]
    dc, dr = np.linalg.norm(col0), np.linalg.norm(col1)
    iop = list(col0 / dc) + list(col1 / dr)
    nz = vol.shape[2]
    order = list(range(nz)) if order is None else order
    for n, k in enumerate(order):
        ipp = (lps @ np.array([0, 0, k, 1.0]))[:3]
        pix = vol[:, :, k].T  # rows = y, columns = x
        fname = names[n] if names else "IM%04d.dcm" % (n + 1)
        spacing = (dr, dc)
        if edit:
            pix, ipp = edit(k, pix, ipp)
        write_slice(os.path.join(d, fname), np.ascontiguousarray(pix), ipp, iop, spacing, uid, study,
                    number, n + 1, signed=signed, rle=rle, jpeg2000=jpeg2000)
    return d


def nifti(path, vol, lps):
    ras = np.diag([-1.0, -1.0, 1.0, 1.0]) @ lps
    img = nib.Nifti1Image(vol, ras)
    img.set_qform(ras, code=1)
    img.set_sform(ras, code=1)
    nib.save(img, path)


def sample_series(sample, out):
    img = nib.load(os.path.join(sample, "subj03_ct.nii.gz"))
    v = np.asarray(img.dataobj).astype(np.int16)[:, :, 56:72]  # RAS x, y, z
    ras = img.affine.copy()
    ras[:3, 3] = (img.affine @ np.array([0, 0, 56, 1.0]))[:3]
    # DICOM order: column i towards L (x reversed), row j towards P (y reversed)
    d = np.ascontiguousarray(v[::-1, ::-1, :])
    n = v.shape[0] - 1
    lps = np.diag([-1.0, -1.0, 1.0, 1.0]) @ ras @ np.array(
        [[-1, 0, 0, n], [0, -1, 0, n], [0, 0, 1, 0], [0, 0, 0, 1.0]])
    os.makedirs(out, exist_ok=True)
    series(os.path.dirname(out) or ".", os.path.basename(out), d, lps, signed=False, rle=True, number=2)


def main():
    if sys.argv[1] == "--sample":
        sample_series(sys.argv[2], sys.argv[3])
        return
    sample, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    v = crop(sample)
    rng = random.Random(7)

    # axial: columns towards L, rows towards P, slices towards S (LPS)
    lps = np.array([[0.75, 0, 0, -12.5], [0, 1.25, 0, 30.0], [0, 0, 2.5, -101.25], [0, 0, 0, 1]])
    series(out, "axial", v, lps, signed=False)
    nifti(os.path.join(out, "axial.nii.gz"), v, lps)
    series(out, "rle", v, lps, signed=False, rle=True)
    series(out, "j2k", v, lps, signed=False, jpeg2000=True)

    # flipped: columns towards R, rows towards A; written feet first
    lpsf = np.array([[-0.75, 0, 0, 12.5], [0, -1.25, 0, -30.0], [0, 0, 2.5, -101.25], [0, 0, 0, 1]])
    order = list(range(v.shape[2]))[::-1]
    names = ["f%03d.dcm" % i for i in rng.sample(range(100, 999), len(order))]
    series(out, "flipped", v, lpsf, order=order, names=names)
    nifti(os.path.join(out, "flipped.nii.gz"), v, lpsf)

    # coronal: columns towards L, rows towards I, slices towards P
    lpsc = np.array([[1.0, 0, 0, -20.0], [0, 0, 2.0, 15.0], [0, -1.5, 0, 40.0], [0, 0, 0, 1]])
    series(out, "coronal", v, lpsc)
    nifti(os.path.join(out, "coronal.nii.gz"), v, lpsc)

    # two series under one folder, and files that are not DICOM images
    study = generate_uid()
    series(os.path.join(out, "multi"), "a", v, lps, number=7, study=study)
    series(os.path.join(out, "multi"), "b", v[:, :, :6], lpsf, number=3, study=study)
    with open(os.path.join(out, "multi", "README.txt"), "w") as f:
        f.write("not DICOM\n")
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.1.3.10"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    dd = FileDataset("DICOMDIR", Dataset(), file_meta=meta, preamble=b"\0" * 128)
    dd.FileSetID = "LRCPIPE"
    dd.is_little_endian, dd.is_implicit_VR = True, False
    dd.save_as(os.path.join(out, "multi", "DICOMDIR"), write_like_original=False)

    # refusals
    series(out, "mixed", v, lps, edit=lambda k, pix, ipp: (pix[:, :-2] if k == 4 else pix, ipp))
    t = np.tan(np.radians(15))
    series(out, "tilt", v, lps, edit=lambda k, pix, ipp: (pix, ipp + np.array([0, 2.5 * k * t, 0])))
    d = series(out, "missing", v, lps)
    os.remove(os.path.join(d, "IM0005.dcm"))
    d = series(out, "duplicate", v, lps)
    ds = pydicom.dcmread(os.path.join(d, "IM0004.dcm"))
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.InstanceNumber = 99
    ds.save_as(os.path.join(d, "IM0099.dcm"))


if __name__ == "__main__":
    main()
