//! The virtual file system (`Vfs`): the thin layer every byte of
//! chunklog's I/O goes through.
//!
//! [`StdVfs`] is the real implementation. Tests swap in their own
//! [`Vfs`] (a failing disk, a crash simulator) through
//! [`ChunkLog::open_with_vfs`](crate::ChunkLog::open_with_vfs) without
//! touching the engine's logic.

use std::any::Any;
use std::fmt::Debug;
use std::fs::{File, OpenOptions};
use std::io::{self, IoSlice};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Arc;

/// A file handle: positional reads and writes only, so any number of
/// threads can use one handle at once.
pub trait VfsFile: Send + Sync + Debug {
    /// Reads exactly `buf.len()` bytes at `offset`.
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()>;
    /// Writes all of `buf` at `offset`.
    fn write_all_at(&self, buf: &[u8], offset: u64) -> io::Result<()>;
    /// Writes all of `bufs`, one after another, at `offset`: what the
    /// flush thread writes a segment with. Like
    /// [`write_all_at`](Self::write_all_at), an error may leave any prefix
    /// of the bytes written. The default joins the buffers and makes one
    /// [`write_all_at`](Self::write_all_at) call, so a file system that
    /// implements only that one sees every write whole; [`StdVfs`]'s
    /// files make one `pwritev` per 1,024 buffers instead of copying.
    fn write_all_vectored_at(&self, bufs: &[&[u8]], offset: u64) -> io::Result<()> {
        match bufs {
            [one] => self.write_all_at(one, offset),
            _ => self.write_all_at(&bufs.concat(), offset),
        }
    }
    /// Makes written data durable (`fdatasync`).
    fn sync_data(&self) -> io::Result<()>;
    /// Truncates or extends the file.
    fn set_len(&self, len: u64) -> io::Result<()>;
    /// The file's current length.
    fn size(&self) -> io::Result<u64>;
    /// Reserves zero-filled space for `[offset, offset + len)`, growing the
    /// file if needed (`fallocate` mode 0), so later small writes and
    /// `fdatasync`s need not grow it. The default does nothing.
    fn allocate(&self, offset: u64, len: u64) -> io::Result<()> {
        let _ = (offset, len);
        Ok(())
    }
}

/// An opaque guard: the directory stays locked while it lives.
pub type DirLock = Box<dyn Any + Send + Sync>;

/// The directory operations chunklog needs.
pub trait Vfs: Send + Sync + Debug + 'static {
    /// Creates `dir` and its parents if missing.
    fn create_dir_all(&self, dir: &Path) -> io::Result<()>;
    /// Takes the exclusive lock of `dir`. Fails with
    /// [`io::ErrorKind::WouldBlock`] at once if it is held elsewhere.
    fn lock_dir(&self, dir: &Path) -> io::Result<DirLock>;
    /// Names of the files in `dir`.
    fn list(&self, dir: &Path) -> io::Result<Vec<String>>;
    /// Opens an existing file for reading and writing.
    fn open(&self, path: &Path) -> io::Result<Arc<dyn VfsFile>>;
    /// Opens an existing file for reading only: recovery, sealed chunks
    /// and the offline tool use it, so a read-only directory can be read.
    /// The default opens it as [`open`](Self::open) does.
    fn open_read(&self, path: &Path) -> io::Result<Arc<dyn VfsFile>> {
        self.open(path)
    }
    /// Creates a file that must not exist yet.
    fn create_new(&self, path: &Path) -> io::Result<Arc<dyn VfsFile>>;
    /// Deletes a file.
    fn remove_file(&self, path: &Path) -> io::Result<()>;
    /// Renames `from` to `to` in the same directory; fails with
    /// [`io::ErrorKind::AlreadyExists`] if `to` exists. Durable once the
    /// directory is synced. Chunk recycling uses it; the default fails
    /// with [`io::ErrorKind::Unsupported`], and purged chunks are then
    /// deleted instead of recycled.
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let _ = (from, to);
        Err(io::Error::from(io::ErrorKind::Unsupported))
    }
    /// Makes the directory's entries (created and removed files) durable.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;
}

/// The real file system (`std::fs`).
#[derive(Debug, Default, Clone, Copy)]
pub struct StdVfs;

/// Buffers one `pwritev` takes at most (`IOV_MAX` on Linux and the BSDs).
const MAX_IOVECS: usize = 1024;

/// Name of the lock file inside a log directory.
pub const LOCK_FILE: &str = "LOCK";

impl VfsFile for File {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        FileExt::read_exact_at(self, buf, offset)
    }
    fn write_all_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        FileExt::write_all_at(self, buf, offset)
    }
    fn write_all_vectored_at(&self, bufs: &[&[u8]], mut offset: u64) -> io::Result<()> {
        let mut slices: Vec<IoSlice<'_>> = bufs.iter().filter(|b| !b.is_empty()).map(|b| IoSlice::new(b)).collect();
        let mut rest = &mut slices[..];
        while !rest.is_empty() {
            let n = rest.len().min(MAX_IOVECS);
            match rustix::io::pwritev(self, &rest[..n], offset) {
                // A short write (a file size limit, a full disk) is carried
                // on from where it stopped, so the error, if any, comes
                // from the call that could write nothing.
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(written) => {
                    offset += written as u64;
                    IoSlice::advance_slices(&mut rest, written);
                }
                Err(rustix::io::Errno::INTR) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }
    fn sync_data(&self) -> io::Result<()> {
        File::sync_data(self)
    }
    fn set_len(&self, len: u64) -> io::Result<()> {
        File::set_len(self, len)
    }
    fn size(&self) -> io::Result<u64> {
        Ok(self.metadata()?.len())
    }
    fn allocate(&self, offset: u64, len: u64) -> io::Result<()> {
        match rustix::fs::fallocate(self, rustix::fs::FallocateFlags::empty(), offset, len) {
            Ok(()) => Ok(()),
            // A file system without fallocate: preallocation is only an
            // optimisation, so carry on without it.
            Err(rustix::io::Errno::OPNOTSUPP) | Err(rustix::io::Errno::NOSYS) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

impl Vfs for StdVfs {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        std::fs::create_dir_all(dir)
    }

    fn lock_dir(&self, dir: &Path) -> io::Result<DirLock> {
        let f = OpenOptions::new().read(true).write(true).create(true).truncate(false).open(dir.join(LOCK_FILE))?;
        match f.try_lock() {
            Ok(()) => Ok(Box::new(f)),
            Err(std::fs::TryLockError::WouldBlock) => {
                Err(io::Error::new(io::ErrorKind::WouldBlock, "directory is locked"))
            }
            Err(std::fs::TryLockError::Error(e)) => Err(e),
        }
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for e in std::fs::read_dir(dir)? {
            let e = e?;
            if let Ok(name) = e.file_name().into_string() {
                names.push(name);
            }
        }
        Ok(names)
    }

    fn open(&self, path: &Path) -> io::Result<Arc<dyn VfsFile>> {
        Ok(Arc::new(OpenOptions::new().read(true).write(true).open(path)?))
    }

    fn open_read(&self, path: &Path) -> io::Result<Arc<dyn VfsFile>> {
        Ok(Arc::new(File::open(path)?))
    }

    fn create_new(&self, path: &Path) -> io::Result<Arc<dyn VfsFile>> {
        Ok(Arc::new(OpenOptions::new().read(true).write(true).create_new(true).open(path)?))
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        std::fs::remove_file(path)
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        use rustix::fs::{CWD, RenameFlags, renameat_with};
        match renameat_with(CWD, from, CWD, to, RenameFlags::NOREPLACE) {
            Ok(()) => Ok(()),
            // A file system without RENAME_NOREPLACE: check, then rename
            // (only this process writes in a locked log directory).
            Err(rustix::io::Errno::INVAL) | Err(rustix::io::Errno::NOSYS) => {
                if std::fs::symlink_metadata(to).is_ok() {
                    return Err(io::Error::from(io::ErrorKind::AlreadyExists));
                }
                std::fs::rename(from, to)
            }
            Err(e) => Err(e.into()),
        }
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        File::open(dir)?.sync_all()
    }
}
