using System.Runtime.InteropServices;

namespace CassaFS.Fuse.Native;

// Layouts below were written from libfuse 3.14's fuse_common.h / fuse_lowlevel.h / fuse_opt.h and glibc's
// bits/struct_stat.h (x86-64) and generic bits/struct_stat.h (arm64, the asm-generic layout). Only LP64 Linux
// is supported: every pointer, size_t, off_t and long below is 8 bytes.

[StructLayout(LayoutKind.Sequential)]
internal unsafe struct FuseArgs
{
    public int Argc;
    public byte** Argv;
    public int Allocated;
}

[StructLayout(LayoutKind.Sequential)]
internal struct FuseContextNative
{
    public uint Uid;
    public uint Gid;
    public int Pid;
    public uint Umask;
}

/// <summary>struct fuse_file_info of libfuse 3.14 (40 bytes): flags, a 32-bit word of bitfields, padding, fh, lock_owner, poll_events.</summary>
[StructLayout(LayoutKind.Explicit, Size = 40)]
internal struct FileInfoNative
{
    [FieldOffset(0)] public int Flags;
    [FieldOffset(4)] public uint Bits;
    [FieldOffset(16)] public ulong Fh;
    [FieldOffset(24)] public ulong LockOwner;
    [FieldOffset(32)] public uint PollEvents;

    // Bit positions of the bitfields (GCC allocates them from the least significant bit on little-endian).
    public const uint DirectIo = 1u << 1;
    public const uint KeepCache = 1u << 2;
    public const uint Flush = 1u << 3;
    public const uint NonSeekable = 1u << 4;
    public const uint FlockRelease = 1u << 5;
    public const uint CacheReadDir = 1u << 6;
}

/// <summary>struct statvfs (glibc, LP64): eleven unsigned longs then six reserved ints, 112 bytes.</summary>
[StructLayout(LayoutKind.Explicit, Size = 112)]
internal struct StatVfsNative
{
    [FieldOffset(0)] public ulong BlockSize;
    [FieldOffset(8)] public ulong FragmentSize;
    [FieldOffset(16)] public ulong Blocks;
    [FieldOffset(24)] public ulong BlocksFree;
    [FieldOffset(32)] public ulong BlocksAvailable;
    [FieldOffset(40)] public ulong Files;
    [FieldOffset(48)] public ulong FilesFree;
    [FieldOffset(56)] public ulong FilesAvailable;
    [FieldOffset(64)] public ulong FsId;
    [FieldOffset(72)] public ulong Flags;
    [FieldOffset(80)] public ulong NameMax;
}

/// <summary>struct flock (LP64 Linux, x86-64 and arm64 alike): short type, short whence, off_t start, off_t len, pid_t pid; 32 bytes.</summary>
[StructLayout(LayoutKind.Explicit, Size = 32)]
internal struct FlockNative
{
    [FieldOffset(0)] public short Type;
    [FieldOffset(2)] public short Whence;
    [FieldOffset(8)] public long Start;
    [FieldOffset(16)] public long Length;
    [FieldOffset(24)] public int Pid;
}

/// <summary>struct fuse_conn_info of libfuse 3.14: ten unsigned ints then 22 reserved.</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct ConnectionInfoNative
{
    public uint ProtoMajor;
    public uint ProtoMinor;
    public uint MaxWrite;
    public uint MaxRead;
    public uint MaxReadahead;
    public uint Capable;
    public uint Want;
    public uint MaxBackground;
    public uint CongestionThreshold;
    public uint TimeGranularity;
    public fixed uint Reserved[22];

    public const uint CapAsyncRead = 1u << 0;
    public const uint CapPosixLocks = 1u << 1;
    public const uint CapAtomicOTrunc = 1u << 3;
    public const uint CapFlockLocks = 1u << 10;
    public const uint CapAutoInvalData = 1u << 12;
    public const uint CapReadDirPlus = 1u << 13;
    public const uint CapReadDirPlusAuto = 1u << 14;
    public const uint CapWritebackCache = 1u << 16;
}

/// <summary>
/// Writes struct stat and struct fuse_entry_param for the running architecture. struct stat differs:
/// x86-64 is 144 bytes (nlink is 64-bit and precedes mode), arm64 uses the asm-generic 128-byte layout.
/// </summary>
internal static unsafe class StatLayout
{
    public static readonly bool IsArm64 = RuntimeInformation.ProcessArchitecture == Architecture.Arm64;

    /// <summary>sizeof(struct stat).</summary>
    public static readonly int StatSize = IsArm64 ? 128 : 144;

    /// <summary>sizeof(struct fuse_entry_param): ino, generation, stat, attr_timeout, entry_timeout.</summary>
    public static readonly int EntrySize = 16 + StatSize + 16;

    /// <summary>Largest of the two, for stackalloc.</summary>
    public const int MaxEntrySize = 16 + 144 + 16;

    public static void EnsureSupported()
    {
        if (!OperatingSystem.IsLinux() ||
            RuntimeInformation.ProcessArchitecture is not (Architecture.X64 or Architecture.Arm64))
        {
            throw new PlatformNotSupportedException(
                $"CassaFS.Fuse knows struct layouts for Linux x86-64 and arm64 only, not {RuntimeInformation.OSDescription} {RuntimeInformation.ProcessArchitecture}.");
        }
    }

    public static void WriteStat(byte* p, in InodeAttributes a)
    {
        new Span<byte>(p, StatSize).Clear();
        *(ulong*)(p + 8) = a.Ino;
        if (IsArm64)
        {
            *(uint*)(p + 16) = a.Mode;
            *(uint*)(p + 20) = a.LinkCount;
            *(uint*)(p + 24) = a.Uid;
            *(uint*)(p + 28) = a.Gid;
            *(ulong*)(p + 32) = a.RDev;
            *(long*)(p + 48) = a.Size;
            *(int*)(p + 56) = a.BlockSize;
            *(long*)(p + 64) = a.Blocks;
        }
        else
        {
            *(ulong*)(p + 16) = a.LinkCount;
            *(uint*)(p + 24) = a.Mode;
            *(uint*)(p + 28) = a.Uid;
            *(uint*)(p + 32) = a.Gid;
            *(ulong*)(p + 40) = a.RDev;
            *(long*)(p + 48) = a.Size;
            *(long*)(p + 56) = a.BlockSize;
            *(long*)(p + 64) = a.Blocks;
        }
        // The three timespecs sit at the same offsets on both architectures.
        WriteTime(p + 72, a.AccessTime);
        WriteTime(p + 88, a.ModificationTime);
        WriteTime(p + 104, a.ChangeTime);
    }

    public static InodeAttributes ReadStat(byte* p)
    {
        InodeAttributes a;
        if (IsArm64)
        {
            a = new InodeAttributes
            {
                Ino = *(ulong*)(p + 8),
                Mode = *(uint*)(p + 16),
                LinkCount = *(uint*)(p + 20),
                Uid = *(uint*)(p + 24),
                Gid = *(uint*)(p + 28),
                RDev = *(ulong*)(p + 32),
                Size = *(long*)(p + 48),
                BlockSize = *(int*)(p + 56),
                Blocks = *(long*)(p + 64),
            };
        }
        else
        {
            a = new InodeAttributes
            {
                Ino = *(ulong*)(p + 8),
                LinkCount = (uint)*(ulong*)(p + 16),
                Mode = *(uint*)(p + 24),
                Uid = *(uint*)(p + 28),
                Gid = *(uint*)(p + 32),
                RDev = *(ulong*)(p + 40),
                Size = *(long*)(p + 48),
                BlockSize = (int)*(long*)(p + 56),
                Blocks = *(long*)(p + 64),
            };
        }
        return a with
        {
            AccessTime = ReadTime(p + 72),
            ModificationTime = ReadTime(p + 88),
            ChangeTime = ReadTime(p + 104),
        };
    }

    public static void WriteEntry(byte* p, in FuseEntry e, double defaultAttrTimeout, double defaultEntryTimeout)
    {
        *(ulong*)p = e.Ino;
        *(ulong*)(p + 8) = e.Generation;
        WriteStat(p + 16, e.Attributes);
        *(double*)(p + 16 + StatSize) = e.AttributeTimeout ?? defaultAttrTimeout;
        *(double*)(p + 24 + StatSize) = e.EntryTimeout ?? defaultEntryTimeout;
    }

    private static void WriteTime(byte* p, FuseTime t)
    {
        *(long*)p = t.Seconds;
        *(long*)(p + 8) = t.Nanoseconds;
    }

    private static FuseTime ReadTime(byte* p) => new(*(long*)p, *(long*)(p + 8));
}
