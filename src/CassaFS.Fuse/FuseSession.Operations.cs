using System.Buffers;
using System.Reflection;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;
using CassaFS.Fuse.Native;

namespace CassaFS.Fuse;

// The fuse_lowlevel_ops callbacks. Each one copies what it needs out of libfuse's arguments (they die when the
// callback returns), calls the handler and either replies at once (the handler completed synchronously) or
// leaves the reply to the handler's continuation, so the libfuse worker goes straight back to /dev/fuse.
internal sealed unsafe partial class FuseSession
{
    private bool Overrides(string method)
    {
        var m = FileSystem.GetType().GetMethod(method, BindingFlags.Public | BindingFlags.Instance);
        return m is not null && m.DeclaringType != typeof(FuseFileSystem);
    }

    /// <summary>The callbacks this session's filesystem implements; every other member stays NULL.</summary>
    private LowLevelOperations BuildOperations()
    {
        var ops = new LowLevelOperations
        {
            Init = &OnInit,
            Destroy = &OnDestroy,
            Forget = &OnForget,
            Release = &OnRelease,
            ReleaseDir = &OnReleaseDir,
        };
        if (Overrides(nameof(FuseFileSystem.LookupAsync))) ops.Lookup = &OnLookup;
        if (Overrides(nameof(FuseFileSystem.GetAttributesAsync))) ops.GetAttr = &OnGetAttr;
        if (Overrides(nameof(FuseFileSystem.SetAttributesAsync))) ops.SetAttr = &OnSetAttr;
        if (Overrides(nameof(FuseFileSystem.ReadLinkAsync))) ops.ReadLink = &OnReadLink;
        if (Overrides(nameof(FuseFileSystem.MakeNodeAsync))) ops.MkNod = &OnMkNod;
        if (Overrides(nameof(FuseFileSystem.MakeDirectoryAsync))) ops.MkDir = &OnMkDir;
        if (Overrides(nameof(FuseFileSystem.UnlinkAsync))) ops.Unlink = &OnUnlink;
        if (Overrides(nameof(FuseFileSystem.RemoveDirectoryAsync))) ops.RmDir = &OnRmDir;
        if (Overrides(nameof(FuseFileSystem.SymLinkAsync))) ops.SymLink = &OnSymLink;
        if (Overrides(nameof(FuseFileSystem.RenameAsync))) ops.Rename = &OnRename;
        if (Overrides(nameof(FuseFileSystem.LinkAsync))) ops.Link = &OnLink;
        if (Overrides(nameof(FuseFileSystem.OpenAsync))) ops.Open = &OnOpen;
        if (Overrides(nameof(FuseFileSystem.ReadAsync))) ops.Read = &OnRead;
        if (Overrides(nameof(FuseFileSystem.WriteAsync)) || Overrides(nameof(FuseFileSystem.WriteOwnedAsync))) ops.Write = &OnWrite;
        if (Overrides(nameof(FuseFileSystem.FlushAsync))) ops.Flush = &OnFlush;
        if (Overrides(nameof(FuseFileSystem.SyncAsync))) ops.FSync = &OnFSync;
        if (Overrides(nameof(FuseFileSystem.OpenDirectoryAsync))) ops.OpenDir = &OnOpenDir;
        if (Overrides(nameof(FuseFileSystem.ReadDirectoryAsync))) ops.ReadDir = &OnReadDir;
        if (Overrides(nameof(FuseFileSystem.SyncDirectoryAsync))) ops.FSyncDir = &OnFSyncDir;
        if (Overrides(nameof(FuseFileSystem.GetStatisticsAsync))) ops.StatFs = &OnStatFs;
        if (Overrides(nameof(FuseFileSystem.SetExtendedAttributeAsync))) ops.SetXAttr = &OnSetXAttr;
        if (Overrides(nameof(FuseFileSystem.GetExtendedAttributeAsync))) ops.GetXAttr = &OnGetXAttr;
        if (Overrides(nameof(FuseFileSystem.ListExtendedAttributesAsync))) ops.ListXAttr = &OnListXAttr;
        if (Overrides(nameof(FuseFileSystem.RemoveExtendedAttributeAsync))) ops.RemoveXAttr = &OnRemoveXAttr;
        if (Overrides(nameof(FuseFileSystem.AccessAsync))) ops.Access = &OnAccess;
        if (Overrides(nameof(FuseFileSystem.CreateAsync))) ops.Create = &OnCreate;
        // libfuse only announces POSIX lock support when both getlk and setlk are present.
        if (Overrides(nameof(FuseFileSystem.SetLockAsync)))
        {
            ops.GetLk = &OnGetLk;
            ops.SetLk = &OnSetLk;
        }
        if (Overrides(nameof(FuseFileSystem.FlockAsync))) ops.Flock = &OnFlock;
        if (Options.ReadDirPlus && Overrides(nameof(FuseFileSystem.ReadDirectoryAsync))) ops.ReadDirPlus = &OnReadDirPlus;
        return ops;
    }

    // ---- replies -------------------------------------------------------------------------------------------

    /// <summary>
    /// A name from the kernel as text. Linux names are bytes; one that is not valid UTF-8 is refused with EILSEQ rather
    /// than decoded with U+FFFD, which would map distinct names (k\xff, k\xfe) to one entry and let one file replace another.
    /// </summary>
    private static string Str(byte* p)
    {
        if (p == null) return string.Empty;
        var bytes = MemoryMarshal.CreateReadOnlySpanFromNullTerminated(p);
        if (!System.Text.Unicode.Utf8.IsValid(bytes))
            throw new FuseException(Errno.EILSEQ, "the name is not valid UTF-8; CassaFS keeps names as UTF-8 text (rename it, e.g. with convmv)");
        return Encoding.UTF8.GetString(bytes);
    }

    private static FuseFileHandle FileHandleOf(FileInfoNative* fi) => fi == null ? default : new FuseFileHandle
    {
        Handle = fi->Fh,
        Flags = fi->Flags,
        LockOwner = fi->LockOwner,
        FlockRelease = (fi->Bits & FileInfoNative.FlockRelease) != 0,
    };

    private static FileInfoNative OpenInfo(in FuseOpenedFile f, int flags)
    {
        uint bits = 0;
        if (f.DirectIo) bits |= FileInfoNative.DirectIo;
        if (f.KeepCache) bits |= FileInfoNative.KeepCache;
        if (f.NonSeekable) bits |= FileInfoNative.NonSeekable;
        if (f.CacheDirectory) bits |= FileInfoNative.CacheReadDir;
        return new FileInfoNative { Flags = flags, Bits = bits, Fh = f.Handle };
    }

    private double AttrTimeout => Options.AttributeTimeout.TotalSeconds;

    private double EntryTimeoutSeconds => Options.EntryTimeout.TotalSeconds;

    private static readonly Action<FuseSession, nint, FuseEntry> ReplyEntry = static (s, req, e) =>
    {
        byte* p = stackalloc byte[StatLayout.MaxEntrySize];
        StatLayout.WriteEntry(p, e, s.AttrTimeout, s.EntryTimeoutSeconds);
        _ = LibFuse.ReplyEntry(req, p);
    };

    private static readonly Action<FuseSession, nint, InodeAttributes> ReplyAttributes = static (s, req, a) =>
    {
        byte* p = stackalloc byte[StatLayout.MaxEntrySize];
        StatLayout.WriteStat(p, a);
        _ = LibFuse.ReplyAttr(req, p, s.AttrTimeout);
    };

    private static readonly Action<FuseSession, nint, string> ReplyLink = static (session, req, target) =>
    {
        byte[] bytes = Encoding.UTF8.GetBytes(target + "\0");
        fixed (byte* p = bytes)
        {
            _ = LibFuse.ReplyReadLink(req, p);
        }
    };

    private static readonly Action<FuseSession, nint, FileSystemStatistics> ReplyStatistics = static (session, req, st) =>
    {
        var v = new StatVfsNative
        {
            BlockSize = st.BlockSize,
            FragmentSize = st.FragmentSize == 0 ? st.BlockSize : st.FragmentSize,
            Blocks = st.Blocks,
            BlocksFree = st.BlocksFree,
            BlocksAvailable = st.BlocksAvailable,
            Files = st.Files,
            FilesFree = st.FilesFree,
            FilesAvailable = st.FilesAvailable,
            NameMax = st.MaxNameLength == 0 ? 255 : st.MaxNameLength,
        };
        _ = LibFuse.ReplyStatFs(req, &v);
    };

    private static readonly Action<FuseSession, nint, PosixLock> ReplyLock = static (session, req, l) =>
    {
        var f = new FlockNative { Type = (short)l.Type, Whence = 0, Start = l.Start, Length = l.Length, Pid = l.Pid };
        _ = LibFuse.ReplyLock(req, &f);
    };

    private static Action<FuseSession, nint, FuseOpenedFile> ReplyOpen(int flags) => (session, req, f) =>
    {
        var fi = OpenInfo(f, flags);
        _ = LibFuse.ReplyOpen(req, &fi);
    };

    private static Action<FuseSession, nint, (FuseEntry Entry, FuseOpenedFile File)> ReplyCreate(int flags) => (s, req, c) =>
    {
        byte* p = stackalloc byte[StatLayout.MaxEntrySize];
        StatLayout.WriteEntry(p, c.Entry, s.AttrTimeout, s.EntryTimeoutSeconds);
        var fi = OpenInfo(c.File, flags);
        _ = LibFuse.ReplyCreate(req, p, &fi);
    };

    private void ReplyErrno(nint req, Errno errno)
    {
        if (!TryEnterNative())
        {
            return;
        }
        try
        {
            // Handlers may hand back -ENOENT as well as ENOENT; the kernel wants the positive value.
            _ = LibFuse.ReplyErr(req, Math.Abs((int)errno));
        }
        finally
        {
            ExitNative();
        }
    }

    private Errno ErrnoOf(Exception ex)
    {
        if (FileSystem.ErrnoFor(ex) is { } mapped && mapped != Errno.Success) return mapped;
        switch (ex)
        {
            case FuseException fe:
                return fe.Errno == Errno.Success ? Errno.EIO : fe.Errno;
            case OperationCanceledException:
                return Errno.EINTR;
            default:
                try
                {
                    Options.OnHandlerError?.Invoke(ex);
                }
#pragma warning disable CA1031 // A faulty error sink must not break the reply.
                catch (Exception)
#pragma warning restore CA1031
                {
                }
                return Errno.EIO;
        }
    }

    private void FailAndEnd(nint req, Exception ex)
    {
        try
        {
            ReplyErrno(req, ErrnoOf(ex));
        }
        finally
        {
            EndRequest();
        }
    }

    private void Send<T>(nint req, FuseResult<T> result, Action<FuseSession, nint, T> reply)
    {
        try
        {
            if (!result.IsSuccess)
            {
                ReplyErrno(req, result.Error);
                return;
            }
            if (!TryEnterNative())
            {
                return;
            }
            try
            {
                reply(this, req, result.Value);
            }
            finally
            {
                ExitNative();
            }
        }
#pragma warning disable CA1031 // Turned into EIO for the caller; nothing may unwind into libfuse.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            ReplyErrno(req, ErrnoOf(ex));
        }
        finally
        {
            EndRequest();
        }
    }

    private void Complete<T>(nint req, ValueTask<FuseResult<T>> task, Action<FuseSession, nint, T> reply)
    {
        if (task.IsCompletedSuccessfully)
        {
            Send(req, task.Result, reply);
        }
        else
        {
            _ = CompleteLater(req, task, reply);
        }
    }

    private void Complete(nint req, ValueTask<Errno> task, long interruptId = 0)
    {
        if (task.IsCompletedSuccessfully)
        {
            SendErrno(req, task.Result, interruptId);
        }
        else
        {
            _ = CompleteLater(req, task, interruptId);
        }
    }

    private void SendErrno(nint req, Errno errno, long interruptId)
    {
        try
        {
            ReplyErrno(req, errno);
        }
        finally
        {
            if (interruptId != 0)
            {
                ReleaseInterrupt(interruptId);
            }
            EndRequest();
        }
    }

    /// <summary>Enters a callback: finds the session and counts the request as in flight.</summary>
    private static FuseSession? Enter(nint req)
    {
        try
        {
            var s = Of(req);
            s.BeginRequest();
            return s;
        }
#pragma warning disable CA1031 // Without a session there is nothing better than EIO.
        catch (Exception)
#pragma warning restore CA1031
        {
            _ = LibFuse.ReplyErr(req, (int)Errno.EIO);
            return null;
        }
    }

    // ---- lifecycle -----------------------------------------------------------------------------------------

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static void OnInit(nint userdata, ConnectionInfoNative* conn)
    {
        var s = (FuseSession)GCHandle.FromIntPtr(userdata).Target!;
        try
        {
            // libfuse offers what its receive buffer holds (1 MiB in 3.14) and does not re-check after init:
            // asking for more would let the kernel send writes the buffer cannot take.
            conn->MaxWrite = Math.Min(conn->MaxWrite, (uint)Math.Max(4096, s.Options.MaxWrite));
            // libfuse 3.14 refuses INIT unless this matches the max_read mount option.
            conn->MaxRead = (uint)s.Options.MaxRead;
            // The kernel must not cache writes on its own: other nodes of the filesystem see the store, not this page cache.
            conn->Want &= ~ConnectionInfoNative.CapWritebackCache;
            if (!s.Options.AutoInvalidateData) conn->Want &= ~ConnectionInfoNative.CapAutoInvalData;
            if (!s.Options.ReadDirPlus)
            {
                conn->Want &= ~(ConnectionInfoNative.CapReadDirPlus | ConnectionInfoNative.CapReadDirPlusAuto);
            }
            if ((conn->Capable & ConnectionInfoNative.CapAtomicOTrunc) != 0)
            {
                conn->Want |= ConnectionInfoNative.CapAtomicOTrunc;
            }
            s.ConnectionMaxWrite = conn->MaxWrite;
            s.FileSystem.OnMounted();
            s._initialised.TrySetResult();
        }
#pragma warning disable CA1031 // Nothing may unwind into libfuse.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            s._initialised.TrySetException(ex);
        }
    }

    internal uint ConnectionMaxWrite { get; private set; }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static void OnDestroy(nint userdata)
    {
        try
        {
            var s = (FuseSession)GCHandle.FromIntPtr(userdata).Target!;
            s.FileSystem.OnUnmounted();
        }
#pragma warning disable CA1031 // Nothing may unwind into libfuse.
        catch (Exception)
#pragma warning restore CA1031
        {
        }
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static void OnForget(nint req, ulong ino, ulong lookups)
    {
        try
        {
            Of(req).FileSystem.Forget(ino, lookups);
        }
#pragma warning disable CA1031 // Forget has no reply to carry an error.
        catch (Exception)
#pragma warning restore CA1031
        {
        }
        LibFuse.ReplyNone(req);
    }

    // ---- names and attributes -----------------------------------------------------------------------------

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static void OnLookup(nint req, ulong parent, byte* name)
    {
        if (Enter(req) is not { } s) return;
        try { s.Complete(req, s.FileSystem.LookupAsync(s.Context(req), parent, Str(name)), ReplyEntry); }
        catch (Exception ex) { s.FailAndEnd(req, ex); }
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static void OnGetAttr(nint req, ulong ino, FileInfoNative* fi)
    {
        if (Enter(req) is not { } s) return;
        try { s.Complete(req, s.FileSystem.GetAttributesAsync(s.Context(req), ino, fi == null ? null : fi->Fh), ReplyAttributes); }
        catch (Exception ex) { s.FailAndEnd(req, ex); }
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static void OnSetAttr(nint req, ulong ino, byte* attr, int toSet, FileInfoNative* fi)
    {
        if (Enter(req) is not { } s) return;
        try
        {
            var a = StatLayout.ReadStat(attr);
            var changes = new AttributeChanges
            {
                Fields = (AttributeFields)toSet,
                Mode = a.Mode,
                Uid = a.Uid,
                Gid = a.Gid,
                Size = a.Size,
                AccessTime = a.AccessTime,
                ModificationTime = a.ModificationTime,
                ChangeTime = a.ChangeTime,
                FileHandle = fi == null ? null : fi->Fh,
            };
            s.Complete(req, s.FileSystem.SetAttributesAsync(s.Context(req), ino, changes), ReplyAttributes);
        }
        catch (Exception ex) { s.FailAndEnd(req, ex); }
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static void OnReadLink(nint req, ulong ino)
    {
        if (Enter(req) is not { } s) return;
        try { s.Complete(req, s.FileSystem.ReadLinkAsync(s.Context(req), ino), ReplyLink); }
        catch (Exception ex) { s.FailAndEnd(req, ex); }
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static void OnMkNod(nint req, ulong parent, byte* name, uint mode, ulong rdev)
    {
        if (Enter(req) is not { } s) return;
        try { s.Complete(req, s.FileSystem.MakeNodeAsync(s.Context(req), parent, Str(name), mode, rdev), ReplyEntry); }
        catch (Exception ex) { s.FailAndEnd(req, ex); }
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static void OnMkDir(nint req, ulong parent, byte* name, uint mode)
    {
        if (Enter(req) is not { } s) return;
        try { s.Complete(req, s.FileSystem.MakeDirectoryAsync(s.Context(req), parent, Str(name), mode), ReplyEntry); }
        catch (Exception ex) { s.FailAndEnd(req, ex); }
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static void OnUnlink(nint req, ulong parent, byte* name)
    {
        if (Enter(req) is not { } s) return;
        try { s.Complete(req, s.FileSystem.UnlinkAsync(s.Context(req), parent, Str(name))); }
        catch (Exception ex) { s.FailAndEnd(req, ex); }
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static void OnRmDir(nint req, ulong parent, byte* name)
    {
        if (Enter(req) is not { } s) return;
        try { s.Complete(req, s.FileSystem.RemoveDirectoryAsync(s.Context(req), parent, Str(name))); }
        catch (Exception ex) { s.FailAndEnd(req, ex); }
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static void OnSymLink(nint req, byte* link, ulong parent, byte* name)
    {
        if (Enter(req) is not { } s) return;
        try { s.Complete(req, s.FileSystem.SymLinkAsync(s.Context(req), Str(link), parent, Str(name)), ReplyEntry); }
        catch (Exception ex) { s.FailAndEnd(req, ex); }
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static void OnRename(nint req, ulong parent, byte* name, ulong newParent, byte* newName, uint flags)
    {
        if (Enter(req) is not { } s) return;
        try { s.Complete(req, s.FileSystem.RenameAsync(s.Context(req), parent, Str(name), newParent, Str(newName), (RenameMode)flags)); }
        catch (Exception ex) { s.FailAndEnd(req, ex); }
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static void OnLink(nint req, ulong ino, ulong newParent, byte* newName)
    {
        if (Enter(req) is not { } s) return;
        try { s.Complete(req, s.FileSystem.LinkAsync(s.Context(req), ino, newParent, Str(newName)), ReplyEntry); }
        catch (Exception ex) { s.FailAndEnd(req, ex); }
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static void OnAccess(nint req, ulong ino, int mask)
    {
        if (Enter(req) is not { } s) return;
        try { s.Complete(req, s.FileSystem.AccessAsync(s.Context(req), ino, mask)); }
        catch (Exception ex) { s.FailAndEnd(req, ex); }
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static void OnStatFs(nint req, ulong ino)
    {
        if (Enter(req) is not { } s) return;
        try { s.Complete(req, s.FileSystem.GetStatisticsAsync(s.Context(req), ino), ReplyStatistics); }
        catch (Exception ex) { s.FailAndEnd(req, ex); }
    }

    // ---- files ---------------------------------------------------------------------------------------------

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static void OnOpen(nint req, ulong ino, FileInfoNative* fi)
    {
        if (Enter(req) is not { } s) return;
        try { s.Complete(req, s.FileSystem.OpenAsync(s.Context(req), ino, fi->Flags), ReplyOpen(fi->Flags)); }
        catch (Exception ex) { s.FailAndEnd(req, ex); }
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static void OnCreate(nint req, ulong parent, byte* name, uint mode, FileInfoNative* fi)
    {
        if (Enter(req) is not { } s) return;
        try { s.Complete(req, s.FileSystem.CreateAsync(s.Context(req), parent, Str(name), mode, fi->Flags), ReplyCreate(fi->Flags)); }
        catch (Exception ex) { s.FailAndEnd(req, ex); }
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static void OnRead(nint req, ulong ino, nuint size, long offset, FileInfoNative* fi)
    {
        if (Enter(req) is not { } s) return;
        byte[]? buffer = null;
        try
        {
            int length = (int)Math.Min((ulong)size, int.MaxValue);
            buffer = ArrayPool<byte>.Shared.Rent(Math.Max(length, 1));
            var task = s.FileSystem.ReadAsync(s.Context(req), ino, fi->Fh, offset, buffer.AsMemory(0, length));
            var owned = buffer;
            buffer = null;
            if (task.IsCompletedSuccessfully)
            {
                s.SendRead(req, task.Result, owned, length);
            }
            else
            {
                _ = s.ReadLater(req, task, owned, length);
            }
        }
        catch (Exception ex)
        {
            if (buffer is not null)
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
            s.FailAndEnd(req, ex);
        }
    }

    private void SendRead(nint req, FuseResult<int> result, byte[] buffer, int length)
    {
        try
        {
            Send(req, result, (s, r, count) =>
            {
                if (count < 0 || count > length)
                {
                    throw new InvalidOperationException($"ReadAsync returned {count} bytes for a {length}-byte buffer.");
                }
                fixed (byte* p = buffer)
                {
                    _ = LibFuse.ReplyBuf(r, p, (nuint)count);
                }
            });
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private static readonly Action<FuseSession, nint, int> ReplyWritten = static (session, req, count) => _ = LibFuse.ReplyWrite(req, (nuint)Math.Max(0, count));

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static void OnWrite(nint req, ulong ino, byte* data, nuint size, long offset, FileInfoNative* fi)
    {
        if (Enter(req) is not { } s) return;
        try
        {
            // libfuse reuses its receive buffer once this returns, so the bytes move into a pooled copy, which the
            // filesystem then owns (it may keep it as a block instead of copying it again).
            var task = s.FileSystem.WriteOwnedAsync(s.Context(req), ino, fi->Fh, offset, new FuseWriteBuffer(data, checked((int)size)));
            if (task.IsCompletedSuccessfully) s.Send(req, task.Result, ReplyWritten);
            else _ = s.WriteLater(req, task);
        }
        catch (Exception ex)
        {
            s.FailAndEnd(req, ex);
        }
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static void OnFlush(nint req, ulong ino, FileInfoNative* fi)
    {
        if (Enter(req) is not { } s) return;
        try { s.Complete(req, s.FileSystem.FlushAsync(s.Context(req), ino, FileHandleOf(fi))); }
        catch (Exception ex) { s.FailAndEnd(req, ex); }
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static void OnRelease(nint req, ulong ino, FileInfoNative* fi)
    {
        if (Enter(req) is not { } s) return;
        try { s.Complete(req, s.FileSystem.ReleaseAsync(s.Context(req), ino, FileHandleOf(fi))); }
        catch (Exception ex) { s.FailAndEnd(req, ex); }
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static void OnFSync(nint req, ulong ino, int dataOnly, FileInfoNative* fi)
    {
        if (Enter(req) is not { } s) return;
        try { s.Complete(req, s.FileSystem.SyncAsync(s.Context(req), ino, fi->Fh, dataOnly != 0)); }
        catch (Exception ex) { s.FailAndEnd(req, ex); }
    }

    // ---- directories ---------------------------------------------------------------------------------------

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static void OnOpenDir(nint req, ulong ino, FileInfoNative* fi)
    {
        if (Enter(req) is not { } s) return;
        try { s.Complete(req, s.FileSystem.OpenDirectoryAsync(s.Context(req), ino, fi->Flags), ReplyOpen(fi->Flags)); }
        catch (Exception ex) { s.FailAndEnd(req, ex); }
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static void OnReadDir(nint req, ulong ino, nuint size, long offset, FileInfoNative* fi) =>
        ReadDirectory(req, ino, size, offset, fi, plus: false);

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static void OnReadDirPlus(nint req, ulong ino, nuint size, long offset, FileInfoNative* fi) =>
        ReadDirectory(req, ino, size, offset, fi, plus: true);

    private static void ReadDirectory(nint req, ulong ino, nuint size, long offset, FileInfoNative* fi, bool plus)
    {
        if (Enter(req) is not { } s) return;
        DirectoryBuffer? buffer = null;
        try
        {
            buffer = new DirectoryBuffer(s, req, (int)Math.Min((ulong)size, 1u << 24), plus);
            var task = s.FileSystem.ReadDirectoryAsync(s.Context(req), ino, fi->Fh, offset, buffer);
            var owned = buffer;
            buffer = null;
            if (task.IsCompletedSuccessfully)
            {
                s.SendDirectory(req, task.Result, owned);
            }
            else
            {
                _ = s.ReadDirectoryLater(req, task, owned);
            }
        }
        catch (Exception ex)
        {
            buffer?.Dispose();
            s.FailAndEnd(req, ex);
        }
    }

    private void SendDirectory(nint req, Errno result, DirectoryBuffer buffer)
    {
        try
        {
            FuseResult<int> r = result == Errno.Success ? buffer.Length : result;
            Send(req, r, (session, rq, length) =>
            {
                fixed (byte* p = buffer.Written)
                {
                    _ = LibFuse.ReplyBuf(rq, p, (nuint)length);
                }
            });
        }
        finally
        {
            buffer.Dispose();
        }
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static void OnReleaseDir(nint req, ulong ino, FileInfoNative* fi)
    {
        if (Enter(req) is not { } s) return;
        try { s.Complete(req, s.FileSystem.ReleaseDirectoryAsync(s.Context(req), ino, fi->Fh)); }
        catch (Exception ex) { s.FailAndEnd(req, ex); }
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static void OnFSyncDir(nint req, ulong ino, int dataOnly, FileInfoNative* fi)
    {
        if (Enter(req) is not { } s) return;
        try { s.Complete(req, s.FileSystem.SyncDirectoryAsync(s.Context(req), ino, fi->Fh, dataOnly != 0)); }
        catch (Exception ex) { s.FailAndEnd(req, ex); }
    }

    // ---- extended attributes -------------------------------------------------------------------------------

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static void OnSetXAttr(nint req, ulong ino, byte* name, byte* value, nuint size, int flags)
    {
        if (Enter(req) is not { } s) return;
        try
        {
            byte[] copy = new ReadOnlySpan<byte>(value, checked((int)size)).ToArray();
            s.Complete(req, s.FileSystem.SetExtendedAttributeAsync(s.Context(req), ino, Str(name), copy, (XAttrCondition)flags));
        }
        catch (Exception ex) { s.FailAndEnd(req, ex); }
    }

    /// <summary>The getxattr/listxattr size protocol: 0 asks for the size, too small a buffer is ERANGE.</summary>
    private static Action<FuseSession, nint, ReadOnlyMemory<byte>> ReplySized(nuint size) => (session, req, value) =>
    {
        if (size == 0)
        {
            _ = LibFuse.ReplyXAttr(req, (nuint)value.Length);
        }
        else if ((nuint)value.Length > size)
        {
            _ = LibFuse.ReplyErr(req, (int)Errno.ERANGE);
        }
        else
        {
            fixed (byte* p = value.Span)
            {
                _ = LibFuse.ReplyBuf(req, p, (nuint)value.Length);
            }
        }
    };

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static void OnGetXAttr(nint req, ulong ino, byte* name, nuint size)
    {
        if (Enter(req) is not { } s) return;
        try { s.Complete(req, s.FileSystem.GetExtendedAttributeAsync(s.Context(req), ino, Str(name)), ReplySized(size)); }
        catch (Exception ex) { s.FailAndEnd(req, ex); }
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static void OnListXAttr(nint req, ulong ino, nuint size)
    {
        if (Enter(req) is not { } s) return;
        try
        {
            var names = s.FileSystem.ListExtendedAttributesAsync(s.Context(req), ino);
            s.Complete(req, EncodeNames(names), ReplySized(size));
        }
        catch (Exception ex) { s.FailAndEnd(req, ex); }
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static void OnRemoveXAttr(nint req, ulong ino, byte* name)
    {
        if (Enter(req) is not { } s) return;
        try { s.Complete(req, s.FileSystem.RemoveExtendedAttributeAsync(s.Context(req), ino, Str(name))); }
        catch (Exception ex) { s.FailAndEnd(req, ex); }
    }

    // ---- locks ---------------------------------------------------------------------------------------------

    private static PosixLock ReadLock(FlockNative* l) => new((PosixLockType)l->Type, l->Start, l->Length, l->Pid);

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static void OnGetLk(nint req, ulong ino, FileInfoNative* fi, FlockNative* lk)
    {
        if (Enter(req) is not { } s) return;
        try { s.Complete(req, s.FileSystem.GetLockAsync(s.Context(req), ino, FileHandleOf(fi), ReadLock(lk)), ReplyLock); }
        catch (Exception ex) { s.FailAndEnd(req, ex); }
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static void OnSetLk(nint req, ulong ino, FileInfoNative* fi, FlockNative* lk, int sleep)
    {
        if (Enter(req) is not { } s) return;
        long id = 0;
        try
        {
            var token = CancellationToken.None;
            if (sleep != 0)
            {
                token = s.RegisterInterrupt(req, out id).Token;
            }
            s.Complete(req, s.FileSystem.SetLockAsync(s.Context(req, token), ino, FileHandleOf(fi), ReadLock(lk), sleep != 0), id);
        }
        catch (Exception ex)
        {
            if (id != 0) s.ReleaseInterrupt(id);
            s.FailAndEnd(req, ex);
        }
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static void OnFlock(nint req, ulong ino, FileInfoNative* fi, int op)
    {
        if (Enter(req) is not { } s) return;
        long id = 0;
        try
        {
            var operation = (FlockOperation)op;
            var token = CancellationToken.None;
            if ((operation & (FlockOperation.NonBlocking | FlockOperation.Unlock)) == 0)
            {
                token = s.RegisterInterrupt(req, out id).Token;
            }
            s.Complete(req, s.FileSystem.FlockAsync(s.Context(req, token), ino, FileHandleOf(fi), operation), id);
        }
        catch (Exception ex)
        {
            if (id != 0) s.ReleaseInterrupt(id);
            s.FailAndEnd(req, ex);
        }
    }
}
