@{
    # The module as laid out by `./build.ps1 Package` (out/CassaFS): this manifest beside bin/CassaFS.PowerShell.dll,
    # the .ps1xml files and en-US/. It is that folder's manifest: import out/CassaFS/CassaFS.psd1, not this copy.
    RootModule           = 'bin/CassaFS.PowerShell.dll'
    ModuleVersion        = '0.1.0'
    GUID                 = '3a54e9e9-f9c0-4024-ba83-46ba269b5fd0'
    Author               = 'CassaFS'
    CompanyName          = 'CassaFS'
    Copyright            = '(c) CassaFS. All rights reserved.'
    Description          = 'A POSIX filesystem on Apache Cassandra with ZooKeeper locks: the CassaFS provider (cassa: drives), lock cmdlets and Linux FUSE mounts.'
    PowerShellVersion    = '7.4'
    CompatiblePSEditions = @('Core')
    # Explicit lists: nothing is exported by wildcard.
    FunctionsToExport    = @()
    CmdletsToExport      = @(
        'Get-CassaLock', 'Lock-CassaItem', 'Unlock-CassaItem', 'Remove-CassaLock', 'Copy-CassaItem',
        'Start-CassaMount', 'Stop-CassaMount', 'Get-CassaMount',
        'Initialize-CassaFileSystem', 'Remove-CassaFileSystem', 'Test-CassaFileSystem', 'Repair-CassaFileSystem', 'Get-CassaFileSystem'
    )
    VariablesToExport    = @()
    AliasesToExport      = @()
    FormatsToProcess     = @('CassaFS.format.ps1xml')
    TypesToProcess       = @('CassaFS.types.ps1xml')
    PrivateData          = @{
        PSData = @{
            Tags = @('Cassandra', 'ZooKeeper', 'FUSE', 'FileSystem', 'Provider', 'Linux')
        }
    }
}
