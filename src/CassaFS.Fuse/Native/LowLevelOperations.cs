using System.Runtime.InteropServices;

namespace CassaFS.Fuse.Native;

/// <summary>
/// struct fuse_lowlevel_ops of libfuse 3.14 (Debian libfuse3-dev 3.14.0-4's fuse_lowlevel.h): 44 function pointers,
/// init through lseek, in the header's order.
/// </summary>
/// <remarks>
/// libfuse finds a callback by its place in this table, so the fields must keep the header's order exactly; the names
/// are the header's, so a reader can hold one against the other. A member left NULL tells libfuse the filesystem does
/// not implement it (libfuse then answers ENOSYS itself, or leaves a capability such as POSIX locks unannounced).
/// Members CassaFS never implements are plain pointers: they only hold their place. fuse_session_new copies the table
/// (memcpy into the session, up to the size it is given), so the table need not outlive the call.
/// </remarks>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct LowLevelOperations
{
    public delegate* unmanaged[Cdecl]<nint, ConnectionInfoNative*, void> Init;
    public delegate* unmanaged[Cdecl]<nint, void> Destroy;
    public delegate* unmanaged[Cdecl]<nint, ulong, byte*, void> Lookup;
    public delegate* unmanaged[Cdecl]<nint, ulong, ulong, void> Forget;
    public delegate* unmanaged[Cdecl]<nint, ulong, FileInfoNative*, void> GetAttr;
    public delegate* unmanaged[Cdecl]<nint, ulong, byte*, int, FileInfoNative*, void> SetAttr;
    public delegate* unmanaged[Cdecl]<nint, ulong, void> ReadLink;
    public delegate* unmanaged[Cdecl]<nint, ulong, byte*, uint, ulong, void> MkNod;
    public delegate* unmanaged[Cdecl]<nint, ulong, byte*, uint, void> MkDir;
    public delegate* unmanaged[Cdecl]<nint, ulong, byte*, void> Unlink;
    public delegate* unmanaged[Cdecl]<nint, ulong, byte*, void> RmDir;
    public delegate* unmanaged[Cdecl]<nint, byte*, ulong, byte*, void> SymLink;
    public delegate* unmanaged[Cdecl]<nint, ulong, byte*, ulong, byte*, uint, void> Rename;
    public delegate* unmanaged[Cdecl]<nint, ulong, ulong, byte*, void> Link;
    public delegate* unmanaged[Cdecl]<nint, ulong, FileInfoNative*, void> Open;
    public delegate* unmanaged[Cdecl]<nint, ulong, nuint, long, FileInfoNative*, void> Read;
    public delegate* unmanaged[Cdecl]<nint, ulong, byte*, nuint, long, FileInfoNative*, void> Write;
    public delegate* unmanaged[Cdecl]<nint, ulong, FileInfoNative*, void> Flush;
    public delegate* unmanaged[Cdecl]<nint, ulong, FileInfoNative*, void> Release;
    public delegate* unmanaged[Cdecl]<nint, ulong, int, FileInfoNative*, void> FSync;
    public delegate* unmanaged[Cdecl]<nint, ulong, FileInfoNative*, void> OpenDir;
    public delegate* unmanaged[Cdecl]<nint, ulong, nuint, long, FileInfoNative*, void> ReadDir;
    public delegate* unmanaged[Cdecl]<nint, ulong, FileInfoNative*, void> ReleaseDir;
    public delegate* unmanaged[Cdecl]<nint, ulong, int, FileInfoNative*, void> FSyncDir;
    public delegate* unmanaged[Cdecl]<nint, ulong, void> StatFs;
    public delegate* unmanaged[Cdecl]<nint, ulong, byte*, byte*, nuint, int, void> SetXAttr;
    public delegate* unmanaged[Cdecl]<nint, ulong, byte*, nuint, void> GetXAttr;
    public delegate* unmanaged[Cdecl]<nint, ulong, nuint, void> ListXAttr;
    public delegate* unmanaged[Cdecl]<nint, ulong, byte*, void> RemoveXAttr;
    public delegate* unmanaged[Cdecl]<nint, ulong, int, void> Access;
    public delegate* unmanaged[Cdecl]<nint, ulong, byte*, uint, FileInfoNative*, void> Create;
    public delegate* unmanaged[Cdecl]<nint, ulong, FileInfoNative*, FlockNative*, void> GetLk;
    public delegate* unmanaged[Cdecl]<nint, ulong, FileInfoNative*, FlockNative*, int, void> SetLk;
    public nint BMap;
    public nint IoCtl;
    public nint Poll;
    public nint WriteBuf;
    public nint RetrieveReply;
    public nint ForgetMulti;
    public delegate* unmanaged[Cdecl]<nint, ulong, FileInfoNative*, int, void> Flock;
    public nint FAllocate;
    public delegate* unmanaged[Cdecl]<nint, ulong, nuint, long, FileInfoNative*, void> ReadDirPlus;
    public nint CopyFileRange;
    public nint LSeek;
}
