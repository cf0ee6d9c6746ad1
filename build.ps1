#!/usr/bin/env pwsh
<#
.SYNOPSIS
    Builds, tests, packages and demonstrates CassaFS.
.DESCRIPTION
    Build    compiles the solution (Release).
    Test     runs the whole test suite on local servers it starts itself (the README's test command), Pester included.
    Package  lays out the PowerShell module in out/CassaFS (copy that folder onto $env:PSModulePath).
    Demo     runs the main job: local servers up, a filesystem formatted, mounted and used (the README's demo command).
.EXAMPLE
    ./build.ps1 Test
#>
[CmdletBinding()]
param(
    [Parameter(Position = 0)]
    [ValidateSet('Build', 'Test', 'Package', 'Demo')]
    [string] $Task = 'Build',
    [ValidateSet('Debug', 'Release')]
    [string] $Configuration = 'Release'
)
$ErrorActionPreference = 'Stop'
Set-StrictMode -Version Latest
Push-Location $PSScriptRoot
try {
    $env:DOTNET_NOLOGO = '1'
    $env:DOTNET_CLI_TELEMETRY_OPTOUT = '1'
    function Invoke-Dotnet {
        & dotnet @args
        if ($LASTEXITCODE -ne 0) { throw "dotnet $($args -join ' ') failed with exit code $LASTEXITCODE" }
    }
    switch ($Task) {
        'Build' {
            Invoke-Dotnet build CassaFS.sln -c $Configuration
        }
        'Test' {
            Invoke-Dotnet run --project tests/CassaFS.TestHost -c $Configuration
        }
        'Package' {
            $module = Join-Path $PSScriptRoot 'out/CassaFS'
            if (Test-Path $module) { Remove-Item $module -Recurse -Force }
            Invoke-Dotnet publish src/CassaFS.PowerShell -c $Configuration -o (Join-Path $module 'bin')
            Invoke-Dotnet publish src/CassaFS.Cli -c $Configuration -o (Join-Path $module 'cli')
            Copy-Item CassaFS.psd1 $module
            Get-ChildItem src/CassaFS.PowerShell -Filter *.ps1xml | Copy-Item -Destination $module
            # Cmdlet help (MAML) is looked up in the module folder's culture directory.
            Copy-Item src/CassaFS.PowerShell/en-US -Destination (Join-Path $module 'en-US') -Recurse
            Test-ModuleManifest (Join-Path $module 'CassaFS.psd1') | Out-Null
            Write-Host "Module laid out in $module (Import-Module $module/CassaFS.psd1)"
        }
        'Demo' {
            Invoke-Dotnet run --project src/CassaFS.Cli -c $Configuration -- demo
        }
    }
}
finally {
    Pop-Location
}
