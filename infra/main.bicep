// The router and everything its azure backend needs, for `azd up` (README, "Deploy with azd").
// Two resource groups: the router's own, and the lanes' one, where the router creates and deletes
// an app per version. The router's Website Contributor is granted on the lanes' group only, so it
// can never touch its own app. Checked by tests/infra/test_bicep.py (no Bicep compiler here).
targetScope = 'subscription'

@minLength(1)
@maxLength(40)
@description('The azd environment: names both resource groups and every resource.')
param environmentName string

@minLength(1)
@description('The region of every resource (lane apps are created here too: ROUTER_LOCATION).')
@metadata({ azd: { type: 'location' } })
param location string

@description('SKU of the lanes\' App Service plan: Y1 (Consumption), EP1-EP3 (Elastic Premium: adds a Key Vault for the content share connection) or a Dedicated SKU. Flex Consumption (FC1) is not offered: the router deploys every release by package URL, which Flex refuses (docs/azure.md).')
@allowed(['P1v3', 'P2v3', 'P3v3', 'P0v3', 'B1', 'B2', 'B3', 'S1', 'S2', 'S3', 'EP1', 'EP2', 'EP3', 'Y1'])
param lanePlanSku string = 'P1v3'

@description('SKU of the router\'s own Linux plan (Dedicated: Always On keeps its Durable timers and queue polling running).')
@allowed(['B1', 'B2', 'B3', 'S1', 'P0v3', 'P1v3'])
param routerPlanSku string = 'B1'

@description('Give the lanes\' task hubs a Durable Task Scheduler (Consumption SKU) instead of Azure Storage queues and tables.')
param useDurableTaskScheduler bool = false

@description('Object id of the release pipeline\'s identity (service principal or managed identity): it may upload packages to the package container. Empty: only the user running azd may.')
param pipelinePrincipalId string = ''

@description('Object id of the user running azd (azd sets it): may upload packages by hand.')
param principalId string = ''

// Role keys (README, "Keys and roles"): generated once by azd and kept in the environment's
// config, so `azd up` again does not rotate them. Letters and digits only, 48 of them
// (docs: azure-developer-cli/metadata, the `generate` type and its config).
@secure()
@metadata({ azd: { type: 'generate', config: { length: 48, noSpecial: true } } })
param routerClientKeys string

@secure()
@metadata({ azd: { type: 'generate', config: { length: 48, noSpecial: true } } })
param routerReleaseKeys string

@secure()
@metadata({ azd: { type: 'generate', config: { length: 48, noSpecial: true } } })
param routerAdminKeys string

var tags = { 'azd-env-name': environmentName }
// Storage account and vault names are global and short: a stable hash of where this environment is.
var token = toLower(uniqueString(subscription().id, environmentName, location))
// union: one assignment per principal even when the pipeline is the user running azd.
var uploaders = union(filter([pipelinePrincipalId, principalId], id => !empty(id)), [])

resource routerGroup 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: 'rg-${environmentName}'
  location: location
  tags: tags
}

resource laneGroup 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: 'rg-${environmentName}-lanes'
  location: location
  tags: tags
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  scope: routerGroup
  params: {
    name: environmentName
    location: location
    tags: tags
  }
}

module lanes 'modules/lanes.bicep' = {
  name: 'lanes'
  scope: laneGroup
  params: {
    name: environmentName
    token: token
    location: location
    tags: tags
    planSku: lanePlanSku
    useDurableTaskScheduler: useDurableTaskScheduler
    uploaderPrincipalIds: uploaders
  }
}

module router 'modules/router-app.bicep' = {
  name: 'router'
  scope: routerGroup
  params: {
    name: environmentName
    token: token
    location: location
    tags: tags
    planSku: routerPlanSku
    appInsightsName: monitoring.outputs.appInsightsName
    laneGroupName: laneGroup.name
    lanePlanId: lanes.outputs.planId
    laneIdentityId: lanes.outputs.identityId
    laneIdentityClientId: lanes.outputs.identityClientId
    laneStorageAccountName: lanes.outputs.storageAccountName
    laneContentSecretUri: lanes.outputs.contentSecretUri
    laneSchedulerId: lanes.outputs.schedulerId
    packageHost: lanes.outputs.packageHost
    clientKeys: routerClientKeys
    releaseKeys: routerReleaseKeys
    adminKeys: routerAdminKeys
  }
}

module routerAccess 'modules/router-access.bicep' = {
  name: 'router-access'
  scope: laneGroup
  params: {
    routerPrincipalId: router.outputs.principalId
    laneIdentityName: lanes.outputs.identityName
    packageStorageAccountName: lanes.outputs.packageStorageAccountName
    packageContainerName: lanes.outputs.packageContainerName
    schedulerName: lanes.outputs.schedulerName
  }
}

// azd keeps these in the environment (`azd env get-values`); the pipelines need the first five.
output AZURE_RESOURCE_GROUP string = routerGroup.name
output DFROUTER_URL string = router.outputs.url
output PACKAGE_STORAGE_ACCOUNT string = lanes.outputs.packageStorageAccountName
output PACKAGE_CONTAINER string = lanes.outputs.packageContainerName
output ROUTER_APP_NAME string = router.outputs.name
output LANE_RESOURCE_GROUP string = laneGroup.name
output APPLICATIONINSIGHTS_NAME string = monitoring.outputs.appInsightsName
