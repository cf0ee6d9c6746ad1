using System.Runtime.InteropServices;

namespace CassaFS.Fuse.Native;

/// <summary>Entry points of libfuse3 (low-level API), bound by soname so the -dev package is not needed.</summary>
internal static unsafe partial class LibFuse
{
    // The soname, not "libfuse3.so": the bare link only exists when libfuse3-dev is installed.
    private const string Library = "libfuse3.so.3";

    [LibraryImport(Library, EntryPoint = "fuse_session_new")]
    internal static partial nint SessionNew(FuseArgs* args, LowLevelOperations* ops, nuint opsSize, nint userdata);

    [LibraryImport(Library, EntryPoint = "fuse_session_mount")]
    internal static partial int SessionMount(nint session, byte* mountpoint);

    // 3.12 changed the signature behind the unversioned name; binding the explicit symbol makes an older
    // libfuse fail loudly at the first call (EntryPointNotFoundException) instead of misreading the config.
    [LibraryImport(Library, EntryPoint = "fuse_session_loop_mt_312")]
    internal static partial int SessionLoopMt(nint session, nint loopConfig);

    [LibraryImport(Library, EntryPoint = "fuse_session_exit")]
    internal static partial void SessionExit(nint session);

    [LibraryImport(Library, EntryPoint = "fuse_session_unmount")]
    internal static partial void SessionUnmount(nint session);

    [LibraryImport(Library, EntryPoint = "fuse_session_destroy")]
    internal static partial void SessionDestroy(nint session);

    [LibraryImport(Library, EntryPoint = "fuse_loop_cfg_create")]
    internal static partial nint LoopConfigCreate();

    [LibraryImport(Library, EntryPoint = "fuse_loop_cfg_destroy")]
    internal static partial void LoopConfigDestroy(nint config);

    [LibraryImport(Library, EntryPoint = "fuse_loop_cfg_set_max_threads")]
    internal static partial void LoopConfigSetMaxThreads(nint config, uint value);

    [LibraryImport(Library, EntryPoint = "fuse_loop_cfg_set_idle_threads")]
    internal static partial void LoopConfigSetIdleThreads(nint config, uint value);

    [LibraryImport(Library, EntryPoint = "fuse_loop_cfg_set_clone_fd")]
    internal static partial void LoopConfigSetCloneFd(nint config, uint value);

    [LibraryImport(Library, EntryPoint = "fuse_opt_free_args")]
    internal static partial void OptFreeArgs(FuseArgs* args);

    [LibraryImport(Library, EntryPoint = "fuse_set_log_func")]
    internal static partial void SetLogFunc(delegate* unmanaged[Cdecl]<int, byte*, nint, void> func);

    [LibraryImport(Library, EntryPoint = "fuse_pkgversion")]
    internal static partial byte* PackageVersion();

    [LibraryImport(Library, EntryPoint = "fuse_req_userdata")]
    internal static partial nint RequestUserData(nint req);

    [LibraryImport(Library, EntryPoint = "fuse_req_ctx")]
    internal static partial FuseContextNative* RequestContext(nint req);

    [LibraryImport(Library, EntryPoint = "fuse_req_getgroups")]
    internal static partial int RequestGetGroups(nint req, int size, uint* list);

    [LibraryImport(Library, EntryPoint = "fuse_req_interrupt_func")]
    internal static partial void RequestInterruptFunc(nint req, delegate* unmanaged[Cdecl]<nint, nint, void> func, nint data);

    [LibraryImport(Library, EntryPoint = "fuse_reply_err")]
    internal static partial int ReplyErr(nint req, int err);

    [LibraryImport(Library, EntryPoint = "fuse_reply_none")]
    internal static partial void ReplyNone(nint req);

    [LibraryImport(Library, EntryPoint = "fuse_reply_entry")]
    internal static partial int ReplyEntry(nint req, byte* entry);

    [LibraryImport(Library, EntryPoint = "fuse_reply_create")]
    internal static partial int ReplyCreate(nint req, byte* entry, FileInfoNative* fi);

    [LibraryImport(Library, EntryPoint = "fuse_reply_attr")]
    internal static partial int ReplyAttr(nint req, byte* stat, double attrTimeout);

    [LibraryImport(Library, EntryPoint = "fuse_reply_readlink")]
    internal static partial int ReplyReadLink(nint req, byte* link);

    [LibraryImport(Library, EntryPoint = "fuse_reply_open")]
    internal static partial int ReplyOpen(nint req, FileInfoNative* fi);

    [LibraryImport(Library, EntryPoint = "fuse_reply_write")]
    internal static partial int ReplyWrite(nint req, nuint count);

    [LibraryImport(Library, EntryPoint = "fuse_reply_buf")]
    internal static partial int ReplyBuf(nint req, byte* buf, nuint size);

    [LibraryImport(Library, EntryPoint = "fuse_reply_statfs")]
    internal static partial int ReplyStatFs(nint req, StatVfsNative* stbuf);

    [LibraryImport(Library, EntryPoint = "fuse_reply_xattr")]
    internal static partial int ReplyXAttr(nint req, nuint count);

    [LibraryImport(Library, EntryPoint = "fuse_reply_lock")]
    internal static partial int ReplyLock(nint req, FlockNative* lk);

    [LibraryImport(Library, EntryPoint = "fuse_lowlevel_notify_inval_inode")]
    internal static partial int NotifyInvalidateInode(nint session, ulong ino, long offset, long length);

    [LibraryImport(Library, EntryPoint = "fuse_lowlevel_notify_inval_entry")]
    internal static partial int NotifyInvalidateEntry(nint session, ulong parent, byte* name, nuint nameLength);

    [LibraryImport(Library, EntryPoint = "fuse_lowlevel_notify_delete")]
    internal static partial int NotifyDelete(nint session, ulong parent, ulong child, byte* name, nuint nameLength);

    [LibraryImport(Library, EntryPoint = "fuse_add_direntry")]
    internal static partial nuint AddDirEntry(nint req, byte* buf, nuint bufSize, byte* name, byte* stat, long nextOffset);

    [LibraryImport(Library, EntryPoint = "fuse_add_direntry_plus")]
    internal static partial nuint AddDirEntryPlus(nint req, byte* buf, nuint bufSize, byte* name, byte* entry, long nextOffset);
}

/// <summary>The libc calls the mount lifecycle needs.</summary>
internal static unsafe partial class LibC
{
    private const string Library = "libc";

    internal const int MNT_DETACH = 2;

    [LibraryImport(Library, EntryPoint = "umount2", SetLastError = true)]
    internal static partial int Umount2(byte* target, int flags);

    [LibraryImport(Library, EntryPoint = "statvfs", SetLastError = true)]
    internal static partial int StatVfs(byte* path, StatVfsNative* buffer);

    [LibraryImport(Library, EntryPoint = "realpath", SetLastError = true)]
    internal static partial byte* RealPath(byte* path, byte* resolved);

    [LibraryImport(Library, EntryPoint = "free")]
    internal static partial void Free(void* p);

    internal const int WNOHANG = 1;

    [LibraryImport(Library, EntryPoint = "waitpid", SetLastError = true)]
    internal static partial int WaitPid(int pid, int* status, int options);

    [LibraryImport(Library, EntryPoint = "geteuid")]
    internal static partial uint GetEuid();

    // libfuse hands its log callback a va_list; on x86-64 and arm64 a va_list parameter travels as a pointer,
    // so it can be passed straight on to vsnprintf.
    [LibraryImport(Library, EntryPoint = "vsnprintf")]
    internal static partial int VsnPrintf(byte* buffer, nuint size, byte* format, nint args);
}
