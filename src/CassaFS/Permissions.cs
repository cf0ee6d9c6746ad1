namespace CassaFS;

/// <summary>The POSIX permission rules, in one place: owner/group/other bits, supplementary groups, root, sticky directories.</summary>
internal static class Permissions
{
    /// <summary>True when <paramref name="caller"/> may access <paramref name="inode"/> as <paramref name="want"/> asks.</summary>
    public static bool Allows(Inode inode, Caller caller, AccessMode want)
    {
        if (want == AccessMode.Exists) return true;
        if (caller.IsRoot)
        {
            // Root reads and writes anything; it executes only what some execute bit allows (directories: always).
            return (want & AccessMode.Execute) == 0 || inode.IsDirectory || (inode.Mode & 0x49) != 0;
        }
        int bits;
        if (caller.Uid == inode.Uid) bits = (inode.Mode >> 6) & 7;
        else if (caller.InGroup(inode.Gid)) bits = (inode.Mode >> 3) & 7;
        else bits = inode.Mode & 7;
        return ((int)want & ~bits) == 0;
    }

    public static void Demand(Inode inode, Caller caller, AccessMode want, string subject)
    {
        if (!Allows(inode, caller, want))
            throw new FileSystemException(Errno.EACCES, subject, $"needs {want} permission");
    }

    /// <summary>In a sticky directory only the file's owner, the directory's owner or root may remove or rename an entry.</summary>
    public static void DemandStickyOwnership(Inode directory, Inode victim, Caller caller, string subject)
    {
        if ((directory.Mode & ModeBits.Sticky) != 0 && !caller.IsRoot && caller.Uid != victim.Uid && caller.Uid != directory.Uid)
            throw new FileSystemException(Errno.EPERM, subject, "the directory is sticky and the entry belongs to someone else");
    }

    /// <summary>Only the owner or root may change mode, times to a given value, or group.</summary>
    public static void DemandOwner(Inode inode, Caller caller, string subject)
    {
        if (!caller.IsRoot && caller.Uid != inode.Uid)
            throw new FileSystemException(Errno.EPERM, subject, "only the owner or root may do that");
    }

    /// <summary>
    /// True when a mode change only clears set-uid or set-gid and the caller may write the file: what the kernel asks
    /// before a non-owner's write or truncate of a set-id file (FUSE's SETATTR of the mode, sent as the writer, since
    /// libfuse 3.14 does not pass FUSE_HANDLE_KILLPRIV on). Refusing it as a chmod by a non-owner would fail the write
    /// with EPERM; allowing it grants nothing the write itself would not do (a write clears these bits anyway).
    /// </summary>
    public static bool IsPrivilegeKill(Inode inode, int mode, Caller caller)
    {
        const int setId = ModeBits.SetUid | ModeBits.SetGid;
        var current = inode.Mode & ModeBits.Permissions;
        return inode.Type == FileType.Regular && mode != current && (mode | setId) == (current | setId) && (mode & ~current) == 0
               && Allows(inode, caller, AccessMode.Write);
    }

    /// <summary>
    /// The mode after a write or truncate (Linux's rule, <c>setattr_should_drop_suidgid</c>): a caller without
    /// CAP_FSETID (here: anyone but root) clears set-uid, and set-gid where group execute is set or where the caller is
    /// not in the file's group (a set-gid file without group execute keeps its bit only for members of its group).
    /// </summary>
    public static int ModeAfterWrite(Inode inode, Caller caller)
    {
        var mode = inode.Mode;
        if (caller.IsRoot) return mode;
        mode &= ~ModeBits.SetUid;
        if ((mode & ModeBits.GroupExecute) != 0 || !caller.InGroup(inode.Gid)) mode &= ~ModeBits.SetGid;
        return mode;
    }
}
